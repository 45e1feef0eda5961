import { AuthpoolError, envApiKeyNames } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { anthropicEnvApiKeys } from "./anthropic-env-keys";
import { anthropic, createAnthropicPlugin } from "./anthropic-plugin";

describe("anthropic plugin", () => {
	it("is a rotating OAuth provider with usage, headers and ranking", () => {
		expect(anthropic.id).toBe("anthropic");
		expect(anthropic.oauth?.rotatesRefreshToken).toBe(true);
		expect(typeof anthropic.usage?.fetchUsage).toBe("function");
		expect(typeof anthropic.usage?.parseRateLimitHeaders).toBe("function");
		expect(anthropic.ranking?.windowDefaults.primaryMs).toBe(5 * 3_600_000);
	});

	it.each([
		[{}, ["ANTHROPIC_OAUTH_TOKEN", "ANTHROPIC_API_KEY"]],
		[{ CLAUDE_CODE_USE_FOUNDRY: "0" }, ["ANTHROPIC_OAUTH_TOKEN", "ANTHROPIC_API_KEY"]],
		[{ CLAUDE_CODE_USE_FOUNDRY: "true" }, ["ANTHROPIC_FOUNDRY_API_KEY", "ANTHROPIC_OAUTH_TOKEN", "ANTHROPIC_API_KEY"]],
		[{ CLAUDE_CODE_USE_FOUNDRY: " YES " }, ["ANTHROPIC_FOUNDRY_API_KEY", "ANTHROPIC_OAUTH_TOKEN", "ANTHROPIC_API_KEY"]],
		[{ CLAUDE_CODE_USE_FOUNDRY: "On" }, ["ANTHROPIC_FOUNDRY_API_KEY", "ANTHROPIC_OAUTH_TOKEN", "ANTHROPIC_API_KEY"]],
		[{ CLAUDE_CODE_USE_FOUNDRY: "1" }, ["ANTHROPIC_FOUNDRY_API_KEY", "ANTHROPIC_OAUTH_TOKEN", "ANTHROPIC_API_KEY"]],
	])("env keys for %o", (env, keys) => {
		expect(anthropicEnvApiKeys(env)).toEqual(keys);
		expect(envApiKeyNames(anthropic, env)).toEqual(keys);
	});

	it("rejects malformed options with INVALID_OPTIONS naming the path", () => {
		let error: unknown;
		try {
			createAnthropicPlugin({ endpoints: { tokenUrl: "not a url" } });
		} catch (caught) {
			error = caught;
		}
		expect(AuthpoolError.isInstance(error)).toBe(true);
		expect((error as AuthpoolError).code).toBe("INVALID_OPTIONS");
		expect((error as AuthpoolError).message).toContain("endpoints.tokenUrl");
		expect(() => createAnthropicPlugin({ clientId: "" })).toThrow(/clientId/);
		expect(() => createAnthropicPlugin({ bogus: 1 } as never)).toThrow(AuthpoolError);
	});
});
