import { type AuthCredential, AuthStorage, createMemoryStore, type UsageReport } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { describePoolRotation } from "@authpool/fake-provider/plugin-kit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOpencodeGoPlugin } from "./opencode-go-plugin";

const PROVIDER = "opencode-go";
const HOUR = 3_600_000;
const START = Date.parse("2026-06-30T12:00:00Z");
let now = START;
const clock = { now: () => now };
let fake: FakeProvider;
let storage: AuthStorage | undefined;

beforeEach(async () => {
	now = START;
	fake = await startFakeProvider({ now: clock.now });
});
afterEach(async () => {
	await storage?.close();
	storage = undefined;
	await fake.close();
});

function used(report: UsageReport | undefined): Record<string, number | undefined> {
	return Object.fromEntries((report?.limits ?? []).map((l) => [l.id, l.amount.used]));
}

async function newStorage(): Promise<AuthStorage> {
	const created = new AuthStorage(createMemoryStore({ clock }), {
		providers: [createOpencodeGoPlugin()],
		clock,
		env: {},
		fetch: globalThis.fetch,
	});
	await created.reload();
	return created;
}

describePoolRotation({
	provider: PROVIDER,
	title: "opencode-go end to end through AuthStorage: rotation and the spend recorded against each key",
	makePlugin: () => createOpencodeGoPlugin(),
	core: { AuthStorage, createMemoryStore },
	clock,
	model: "kimi-k2",
	afterFirstResponse: async ({ storage, session }) => {
		// Costs of the first key: one 6 h ago (outside the 5 h window), two within it.
		expect(await storage.recordUsageCost(PROVIDER, 2.5, { sessionId: session, recordedAt: now - 6 * HOUR })).toBe(true);
		expect(await storage.recordUsageCost(PROVIDER, 0.75, { sessionId: session, recordedAt: now - HOUR })).toBe(true);
		expect(await storage.recordUsageCost(PROVIDER, 0.5, { sessionId: session })).toBe(true);
	},
	verify: async ({ fake: target, storage, session }) => {
		// The session's costs now land on the sibling.
		expect(await storage.recordUsageCost(PROVIDER, 1.25, { sessionId: session })).toBe(true);

		// Past the fresh-cache lifetime, so both reports are recomputed from the ledger.
		now += 10 * 60_000;
		const reports = await storage.fetchUsageReports();
		expect(reports).toHaveLength(2);
		expect(target.count(PROVIDER, "usage")).toBe(0);
		const byUse = reports.map(used).sort((a, b) => (a.monthly ?? 0) - (b.monthly ?? 0));
		expect(byUse).toEqual([
			{ "rolling-5h": 1.25, weekly: 1.25, monthly: 1.25 },
			{ "rolling-5h": 1.25, weekly: 3.75, monthly: 3.75 },
		]);
		const firstReport = reports.find((r) => used(r).monthly === 3.75)!;
		const rolling = firstReport.limits.find((l) => l.id === "rolling-5h")!;
		expect(rolling.window?.resetsAt).toBe(START - HOUR + 5 * HOUR);
		expect(rolling.amount).toMatchObject({ limit: 12, remaining: 10.75, unit: "usd" });
		expect(rolling.status).toBe("ok");
		expect(firstReport.metadata).toMatchObject({ planType: "OpenCode Go" });
	},
	envApiKey: "OPENCODE_API_KEY",
});

describe("opencode-go end to end through AuthStorage", () => {
	it("blocks a key whose spend reached the 5 h cap until the oldest cost leaves the window", async () => {
		const alice = fake.addAccount(PROVIDER);
		const bob = fake.addAccount(PROVIDER);
		storage = await newStorage();
		await storage.set(PROVIDER, [alice.credential as AuthCredential, bob.credential as AuthCredential]);
		const first = await storage.getApiKey(PROVIDER, "s1");
		await storage.recordUsageCost(PROVIDER, 7, { sessionId: "s1", recordedAt: now - 2 * HOUR });
		await storage.recordUsageCost(PROVIDER, 5, { sessionId: "s1" });

		// A short retry-after loses to the cost-derived reset: the key stays blocked for 3 h.
		const mark = await storage.markUsageLimitReached(PROVIDER, "s1", { retryAfterMs: 1000 });
		expect(mark).toEqual({ switched: true });
		const second = await storage.getApiKey(PROVIDER, "s1");
		expect(second).not.toBe(first);

		const keysFor = async (sessions: string[]) =>
			new Set(await Promise.all(sessions.map((s) => storage!.getApiKey(PROVIDER, s))));
		now += 2 * HOUR;
		expect(await keysFor(["s2", "s3", "s4", "s5", "s6", "s7"])).toEqual(new Set([second]));
		// Once the $7 cost is 5 h old the block ends and new sessions spread over both keys again.
		now += HOUR + 1000;
		expect(await keysFor(["s8", "s9", "s10", "s11", "s12", "s13"])).toEqual(new Set([first, second]));
	});
});
