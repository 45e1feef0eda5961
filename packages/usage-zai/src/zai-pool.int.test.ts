import { AuthStorage, createMemoryStore } from "@authpool/core";
import { describePoolRotation } from "@authpool/fake-provider/plugin-kit";
import { expect } from "vitest";
import { createZaiPlugin } from "./zai-plugin";

const PROVIDER = "zai";
const now = Date.parse("2026-06-30T12:00:00Z");

describePoolRotation({
	provider: PROVIDER,
	title: "zai end to end through AuthStorage",
	makePlugin: (fake) => createZaiPlugin({ endpoints: { origin: fake.baseUrl(PROVIDER) } }),
	core: { AuthStorage, createMemoryStore },
	clock: { now: () => now },
	quota: 2,
	model: "glm-4.6",
	afterMark: ({ fake, first }) => {
		// The block deadline came from a fresh usage report of the limited key (raw-key auth, no Bearer).
		const quotaCall = fake.requests.filter((r) => r.endpoint === "usage").at(-1);
		expect(quotaCall?.headers.authorization).toBe(first.apiKey);
	},
	verify: async ({ storage }) => {
		// Usage views show both keys: the limited one exhausted, the sibling half used.
		const reports = await storage.fetchUsageReports();
		const fiveHour = reports.map((r) => r.limits.find((l) => l.id === "zai:tokens:5h"));
		expect(fiveHour.map((l) => [l?.status, l?.amount.usedFraction]).sort()).toEqual([
			["exhausted", 1],
			["ok", 0.5],
		]);
	},
	envApiKey: "ZAI_API_KEY",
});
