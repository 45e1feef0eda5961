import { AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
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

function plugin() {
	const base = fake.baseUrl("anthropic");
	return createAnthropicPlugin({
		endpoints: {
			tokenUrl: `${base}/v1/oauth/token`,
			usageBaseUrl: `${base}/api/oauth`,
			bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
		},
	});
}

async function infer(token: string): Promise<Response> {
	return fetch(`${fake.baseUrl("anthropic")}/inference`, {
		method: "POST",
		headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
		body: JSON.stringify({ model: "claude-sonnet-4-6" }),
	});
}

function headersOf(response: Response): Record<string, string> {
	const out: Record<string, string> = {};
	response.headers.forEach((value, key) => {
		out[key] = value;
	});
	return out;
}

describe("anthropic plugin end to end (AuthStorage + memory store + fake provider)", () => {
	it("refreshes expired rows, learns from headers and rotates to the sibling after a 429", async () => {
		const alice = fake.addAccount("anthropic", { email: "alice@example.com", quota: 1, expiresAt: NOW - 1 });
		const bob = fake.addAccount("anthropic", { email: "bob@example.com", quota: 1, expiresAt: NOW - 1 });
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [plugin()],
			clock,
			env: {},
			random: () => 0.5,
		});
		await storage.reload();
		await storage.set("anthropic", [alice.credential, bob.credential]);

		const session = "session-1";
		const first = await storage.getApiKey("anthropic", session);
		const firstAccount = fake.account(first ?? "");
		expect(firstAccount && [alice.id, bob.id]).toContain(firstAccount?.id);
		// the stored token had expired: what we got is the freshly refreshed one
		expect(first).toBe(firstAccount?.accessToken);
		expect(fake.refreshCount(firstAccount?.id)).toBe(1);
		expect(await storage.getApiKey("anthropic", session)).toBe(first);

		const ok = await infer(first ?? "");
		expect(ok.status).toBe(200);
		expect(await storage.ingestUsageHeaders("anthropic", headersOf(ok), { sessionId: session })).toBe(true);

		const limited = await infer(first ?? "");
		expect(limited.status).toBe(429);
		const retryAfterMs = Number(limited.headers.get("retry-after")) * 1000;
		const mark = await storage.markUsageLimitReached("anthropic", session, { retryAfterMs });
		expect(mark.switched).toBe(true);

		const sibling = firstAccount?.id === alice.id ? bob : alice;
		const next = await storage.getApiKey("anthropic", session);
		expect(next).not.toBe(first);
		expect(next).toBe(sibling.accessToken);
		expect(fake.refreshCount(sibling.id)).toBe(1);
		expect((await infer(next ?? "")).status).toBe(200);
	});

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
