import { AuthpoolError, envApiKeyNames } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { createOpenAICodexPlugin, openaiCodex } from "./openai-codex-plugin";

describe("openai-codex plugin", () => {
	it("is a rotating OAuth provider with usage, headers, ranking, reset credits and its env key", () => {
		expect(openaiCodex.id).toBe("openai-codex");
		expect(openaiCodex.oauth?.rotatesRefreshToken).toBe(true);
		expect(typeof openaiCodex.usage?.parseRateLimitHeaders).toBe("function");
		expect(typeof openaiCodex.ranking?.planPriority).toBe("function");
		expect(typeof openaiCodex.resetCredits?.redeem).toBe("function");
		expect(envApiKeyNames(openaiCodex, {})).toEqual(["OPENAI_CODEX_OAUTH_TOKEN"]);
	});

	it("rejects malformed options with INVALID_OPTIONS naming the path", () => {
		let error: unknown;
		try {
			createOpenAICodexPlugin({ endpoints: { usageBaseUrl: "chatgpt" } });
		} catch (caught) {
			error = caught;
		}
		expect(AuthpoolError.isInstance(error)).toBe(true);
		expect((error as AuthpoolError).code).toBe("INVALID_OPTIONS");
		expect((error as AuthpoolError).message).toContain("endpoints.usageBaseUrl");
		expect(() => createOpenAICodexPlugin({ endpoints: { bogus: "x" } as never })).toThrow(AuthpoolError);
	});
});
