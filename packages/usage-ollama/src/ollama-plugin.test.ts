import { silentLogger, type UsageFetchContext } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { ollama, ollamaCloud } from "./ollama-plugin";

const ctx = (fetchCalls: string[]): UsageFetchContext => ({
	fetch: async (input) => {
		fetchCalls.push(String(input));
		throw new Error("no network expected");
	},
	clock: { now: () => 1_782_820_000_000 },
	logger: silentLogger,
	env: {},
});

describe("ollama plugins", () => {
	it("report no limits, a note and identity metadata without any HTTP call", async () => {
		const calls: string[] = [];
		const report = await ollama.usage!.fetchUsage(
			{ provider: "ollama", credential: { type: "api_key", apiKey: "k", email: "dev@example.com" } },
			ctx(calls),
		);
		expect(calls).toEqual([]);
		expect(report).toEqual({
			provider: "ollama",
			fetchedAt: 1_782_820_000_000,
			limits: [],
			notes: [
				"Ollama does not expose a standalone quota usage API; per-response token usage is reported during requests.",
			],
			metadata: { email: "dev@example.com" },
		});
	});

	it("omits metadata when nothing identifies the account, and only supports its own id", async () => {
		const report = await ollamaCloud.usage!.fetchUsage(
			{ provider: "ollama-cloud", credential: { type: "oauth", accessToken: "a" } },
			ctx([]),
		);
		expect(report?.metadata).toBeUndefined();
		expect(report?.provider).toBe("ollama-cloud");
		expect(ollamaCloud.usage!.supports!({ provider: "ollama", credential: { type: "api_key" } })).toBe(false);
		expect(ollama.usage!.validatesCredentials).toBe(false);
	});

	it("names the env vars of each provider", () => {
		expect(ollama.envApiKeys).toEqual(["OLLAMA_API_KEY"]);
		expect(ollamaCloud.envApiKeys).toEqual(["OLLAMA_CLOUD_API_KEY"]);
	});
});
