import { AuthStorage, createMemoryStore, type ProviderPlugin } from "@authpool/core";
import { describePoolRotation } from "@authpool/fake-provider/plugin-kit";
import { expect } from "vitest";
import { createOllamaCloudPlugin, createOllamaPlugin } from "./ollama-plugin";

const now = Date.parse("2026-06-30T12:00:00Z");

const cases: Array<{ provider: "ollama" | "ollama-cloud"; plugin: () => ProviderPlugin; envVar: string }> = [
	{ provider: "ollama", plugin: createOllamaPlugin, envVar: "OLLAMA_API_KEY" },
	{ provider: "ollama-cloud", plugin: createOllamaCloudPlugin, envVar: "OLLAMA_CLOUD_API_KEY" },
];

for (const { provider, plugin, envVar } of cases) {
	describePoolRotation({
		provider,
		title: `${provider} end to end through AuthStorage`,
		makePlugin: () => plugin(),
		core: { AuthStorage, createMemoryStore },
		clock: { now: () => now },
		model: "gpt-oss:120b",
		verify: async ({ fake, storage }) => {
			// No quota API: the pool never calls the provider for usage, yet both accounts show up in usage views.
			expect(fake.count(provider, "usage")).toBe(0);
			const reports = await storage.fetchUsageReports();
			expect(reports.filter((r) => r.provider === provider)).toHaveLength(2);
			expect(reports.every((r) => r.limits.length === 0 && r.notes?.length === 1)).toBe(true);
		},
		envApiKey: envVar,
	});
}
