import { AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { describePoolRotation } from "@authpool/fake-provider/plugin-kit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAnthropicPlugin } from "./anthropic-plugin";
import { fixedClock } from "./test-support";

const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);
const clock = fixedClock(NOW);
let fake: FakeProvider;
let storage: AuthStorage | undefined;

beforeEach(async () => {
	clock.set(NOW);
	fake = await startFakeProvider({ now: () => clock.now() });
});
afterEach(async () => {
	await storage?.close();
	storage = undefined;
	await fake.close();
});

function plugin(target: FakeProvider = fake) {
	const base = target.baseUrl("anthropic");
	return createAnthropicPlugin({
		endpoints: {
			tokenUrl: `${base}/v1/oauth/token`,
			usageBaseUrl: `${base}/api/oauth`,
			bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
		},
	});
}

function headersOf(response: Response): Record<string, string> {
	const out: Record<string, string> = {};
	response.headers.forEach((value, key) => {
		out[key] = value;
	});
	return out;
}

describePoolRotation({
	provider: "anthropic",
	makePlugin: (target) => plugin(target),
	core: { AuthStorage, createMemoryStore },
	clock,
	random: () => 0.5,
	expired: "both",
	model: "claude-sonnet-4-6",
	accountSpec: (name) => ({ email: `${name}@example.com` }),
	afterFirstResponse: async ({ storage, session }, ok) => {
		expect(await storage.ingestUsageHeaders("anthropic", headersOf(ok), { sessionId: session })).toBe(true);
	},
});

describe("anthropic plugin end to end (AuthStorage + memory store + fake provider)", () => {
	it("serves usage reports from the fake's usage endpoint", async () => {
		const carol = fake.addAccount("anthropic", {
			email: "carol@example.com",
			usage: { primary: { usedPercent: 42 }, secondary: { usedPercent: 7 }, buckets: { opus: { usedPercent: 3 } } },
		});
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [plugin()],
			clock,
			env: {},
			random: () => 0.5,
		});
		await storage.reload();
		await storage.set("anthropic", carol.credential);
		const reports = await storage.fetchUsageReports();
		expect(reports).toHaveLength(1);
		expect(reports[0]?.limits.map((limit) => [limit.id, limit.amount.used])).toEqual([
			["anthropic:5h", 42],
			["anthropic:7d", 7],
			["anthropic:7d:opus", 3],
		]);
		expect(reports[0]?.metadata).toMatchObject({ email: "carol@example.com" });
	});
});
