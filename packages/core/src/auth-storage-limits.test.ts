import { describe, expect, it } from "vitest";
import { AuthStorage } from "./auth-storage";
import { fakeOAuthPlugin, HOUR, manualClock, oauth } from "./auth-storage.test-utils";
import { AuthpoolError } from "./errors";
import { createMemoryStore, createMemoryStoreBackend } from "./store/memory-store";
import type { CredentialRankingStrategy, UsageLimit, UsageProvider, UsageReport } from "./usage/types";

/** Per-account usage: `used[email]` = { primary, secondary, resetsAt?, exhausted? }. */
interface AccountUsage {
	primary: number;
	secondary: number;
	resetsAt?: number;
}

function limit(id: string, used: number, durationMs: number, resetsAt?: number): UsageLimit {
	return {
		id,
		label: id,
		scope: { provider: "acme" },
		window: { id, label: id, durationMs, ...(resetsAt !== undefined ? { resetsAt } : {}) },
		amount: { usedFraction: used, unit: "percent" },
		status: used >= 1 ? "exhausted" : "ok",
	};
}

const strategy: CredentialRankingStrategy = {
	windowDefaults: { primaryMs: 5 * HOUR, secondaryMs: 7 * 24 * HOUR },
	findWindowLimits: (report) => ({
		primary: report.limits.find((l) => l.id === "5h"),
		secondary: report.limits.find((l) => l.id === "7d"),
	}),
	// Models named "spark-*" draw from their own bucket.
	blockScope: (ctx) => (ctx?.modelId?.startsWith("spark") ? "spark" : undefined),
	scopeLimits: (report, ctx) =>
		report.limits.filter((l) => (ctx?.modelId?.startsWith("spark") ? l.id === "spark" : l.id !== "spark")),
};

function setup() {
	const clock = manualClock();
	const usageByEmail = new Map<string, AccountUsage & { spark?: number }>();
	let fetches = 0;
	const usage: UsageProvider = {
		fetchUsage: async (params) => {
			fetches += 1;
			const account = usageByEmail.get(params.credential.email ?? "");
			if (!account) return null;
			const limits = [
				limit("5h", account.primary, 5 * HOUR, account.resetsAt ?? clock.now() + 2 * HOUR),
				limit("7d", account.secondary, 7 * 24 * HOUR, clock.now() + 3 * 24 * HOUR),
			];
			if (account.spark !== undefined) limits.push(limit("spark", account.spark, 5 * HOUR, clock.now() + 4 * HOUR));
			const report: UsageReport = {
				provider: "acme",
				fetchedAt: clock.now(),
				limits,
				metadata: { email: params.credential.email },
			};
			return report;
		},
	};
	const plugin = fakeOAuthPlugin("acme", clock, { ranking: strategy, usage });
	const backend = createMemoryStoreBackend();
	const store = createMemoryStore({ clock, backend });
	const make = () =>
		new AuthStorage(createMemoryStore({ clock, backend }), { providers: [plugin], clock, env: {}, random: () => 0.5 });
	return { clock, plugin, store, usageByEmail, make, storage: make(), fetches: () => fetches };
}

async function accounts(ctx: ReturnType<typeof setup>, emails: string[]) {
	const rows = [];
	for (const email of emails) rows.push(await ctx.store.rows.insert("acme", oauth(email, ctx.clock.now())));
	await ctx.storage.reload();
	return rows;
}

describe("markUsageLimitReached", () => {
	it("switched: true when a sibling is free, and the next getApiKey returns the sibling", async () => {
		const ctx = setup();
		ctx.usageByEmail.set("a@x.io", { primary: 0.1, secondary: 0.1 });
		ctx.usageByEmail.set("b@x.io", { primary: 0.1, secondary: 0.1 });
		await accounts(ctx, ["a@x.io", "b@x.io"]);
		const first = await ctx.storage.getApiKey("acme", "s");
		const result = await ctx.storage.markUsageLimitReached("acme", "s", { retryAfterMs: 30_000 });
		expect(result).toEqual({ switched: true });
		const second = await ctx.storage.getApiKey("acme", "s");
		expect(second).toBeDefined();
		expect(second).not.toBe(first);
		// The session sticks to its new row.
		expect(await ctx.storage.getApiKey("acme", "s")).toBe(second);
	});

	it("without a session, `apiKey` names the limited row even after other sessionless requests", async () => {
		const ctx = setup();
		await accounts(ctx, ["a@x.io", "b@x.io", "c@x.io"]);
		const first = await ctx.storage.getApiKey("acme");
		const second = await ctx.storage.getApiKey("acme");
		expect(second).not.toBe(first);
		// The request that used `first` got the 429, after `second` was handed out.
		expect(await ctx.storage.markUsageLimitReached("acme", undefined, { apiKey: first, retryAfterMs: 60_000 })).toEqual(
			{
				switched: true,
			},
		);
		const next = await Promise.all([1, 2, 3, 4].map(() => ctx.storage.getApiKey("acme")));
		expect(next).not.toContain(first);
		expect(next).toContain(second);
	});

	it("switched: false with retryAtMs = the earliest sibling unblock when none is free", async () => {
		const ctx = setup();
		await accounts(ctx, ["a@x.io", "b@x.io", "c@x.io"]);
		const now = ctx.clock.now();
		await ctx.storage.getApiKey("acme", "s1");
		await ctx.storage.markUsageLimitReached("acme", "s1", { retryAfterMs: 300_000 });
		await ctx.storage.getApiKey("acme", "s1");
		await ctx.storage.markUsageLimitReached("acme", "s1", { retryAfterMs: 100_000 });
		await ctx.storage.getApiKey("acme", "s1");
		const result = await ctx.storage.markUsageLimitReached("acme", "s1", { retryAfterMs: 500_000 });
		expect(result).toEqual({ switched: false, retryAtMs: now + 100_000 });
	});

	it("a later reset in a fresh usage report extends the block beyond retry-after", async () => {
		const ctx = setup();
		const resetsAt = ctx.clock.now() + 3 * HOUR;
		ctx.usageByEmail.set("a@x.io", { primary: 1, secondary: 0.5, resetsAt });
		const [a] = await accounts(ctx, ["a@x.io"]);
		await ctx.storage.getApiKey("acme", "s");
		const fetchesBefore = ctx.fetches();
		const result = await ctx.storage.markUsageLimitReached("acme", "s", { retryAfterMs: 60_000 });
		expect(ctx.fetches()).toBeGreaterThan(fetchesBefore); // fresh report, not a cached one
		expect(result).toEqual({ switched: false });
		const blocks = await ctx.store.blocks.list({ credentialId: a!.id });
		expect(blocks.map((b) => b.blockedUntil)).toEqual([resetsAt]);
	});

	it("a scoped block only blocks its scope", async () => {
		const ctx = setup();
		const [a, b] = await accounts(ctx, ["a@x.io", "b@x.io"]);
		const access = (row: typeof a) => (row!.credential as { access: string }).access;
		// Pin the session to a row, then hit the spark limit on it.
		const pinned = await ctx.storage.getApiKey("acme", "s", { modelId: "spark-1" });
		const pinnedRow = pinned === access(a) ? a! : b!;
		const other = pinnedRow === a ? b! : a!;
		const result = await ctx.storage.markUsageLimitReached("acme", "s", { retryAfterMs: 600_000, modelId: "spark-1" });
		expect(result).toEqual({ switched: true });
		const blocks = await ctx.store.blocks.list({ credentialId: pinnedRow.id });
		expect(blocks.map((block) => block.scope)).toEqual(["spark"]);
		// A request for another model still uses the pinned row; a spark request moves.
		expect(await ctx.storage.getApiKey("acme", "s", { modelId: "regular" })).toBe(access(pinnedRow));
		expect(await ctx.storage.getApiKey("acme", "fresh-session", { modelId: "spark-2" })).toBe(access(other));
	});

	it("blocks survive a new AuthStorage on the same store", async () => {
		const ctx = setup();
		const [a, b] = await accounts(ctx, ["a@x.io", "b@x.io"]);
		await ctx.storage.getApiKey("acme", "s");
		await ctx.storage.markUsageLimitReached("acme", "s", { retryAfterMs: 10 * 60_000 });
		const blocked = (await ctx.store.blocks.list())[0]!.credentialId;
		const free = blocked === a!.id ? b! : a!;
		const restarted = ctx.make();
		await restarted.reload();
		for (let i = 0; i < 5; i += 1) {
			expect(await restarted.getApiKey("acme", `other-${i}`)).toBe((free.credential as { access: string }).access);
		}
		ctx.clock.advance(10 * 60_000 + 1);
		const keys = new Set<string>();
		for (let i = 0; i < 20; i += 1) keys.add((await restarted.getApiKey("acme", `later-${i}`))!);
		expect(keys.size).toBe(2);
	});
});

describe("ranking", () => {
	it("a new session prefers accounts with headroom; an exhausted row is blocked until its reset", async () => {
		const ctx = setup();
		const resetsAt = ctx.clock.now() + 2 * HOUR;
		ctx.usageByEmail.set("a@x.io", { primary: 1, secondary: 0.9, resetsAt });
		ctx.usageByEmail.set("b@x.io", { primary: 0.2, secondary: 0.1 });
		const [a] = await accounts(ctx, ["a@x.io", "b@x.io"]);
		for (let i = 0; i < 10; i += 1) expect(await ctx.storage.getApiKey("acme", `s-${i}`)).toBe("access-b@x.io-0");
		const blocks = await ctx.store.blocks.list({ credentialId: a!.id });
		expect(blocks.map((block) => block.blockedUntil)).toEqual([resetsAt]);
	});

	it("a session whose pinned row is available is not re-ranked", async () => {
		const ctx = setup();
		ctx.usageByEmail.set("a@x.io", { primary: 0.1, secondary: 0.1 });
		ctx.usageByEmail.set("b@x.io", { primary: 0.1, secondary: 0.1 });
		await accounts(ctx, ["a@x.io", "b@x.io"]);
		const first = await ctx.storage.getApiKey("acme", "warm");
		// The pinned account now looks worse than its sibling, but is not exhausted: keep it.
		const pinnedEmail = first!.includes("a@x.io") ? "a@x.io" : "b@x.io";
		ctx.usageByEmail.set(pinnedEmail, { primary: 0.9, secondary: 0.8 });
		ctx.clock.advance(10 * 60_000);
		const fetches = ctx.fetches();
		for (let i = 0; i < 5; i += 1) expect(await ctx.storage.getApiKey("acme", "warm")).toBe(first);
		expect(ctx.fetches()).toBe(fetches);
	});

	it("fresh sessions spread over equally good accounts instead of piling onto one", async () => {
		const ctx = setup();
		for (const email of ["a@x.io", "b@x.io", "c@x.io"]) ctx.usageByEmail.set(email, { primary: 0.3, secondary: 0.3 });
		await accounts(ctx, ["a@x.io", "b@x.io", "c@x.io"]);
		const seen = new Set<string>();
		for (let i = 0; i < 60; i += 1) seen.add((await ctx.storage.getApiKey("acme", `fresh-${i}`))!);
		expect(seen.size).toBe(3);
	});

	it("a usage block is lifted early when a fresh report shows the limit no longer exhausted", async () => {
		const ctx = setup();
		ctx.usageByEmail.set("a@x.io", { primary: 1, secondary: 0.5, resetsAt: ctx.clock.now() + 4 * HOUR });
		ctx.usageByEmail.set("b@x.io", { primary: 0.95, secondary: 0.95 });
		await accounts(ctx, ["a@x.io", "b@x.io"]);
		expect(await ctx.storage.getApiKey("acme", "s1")).toBe("access-b@x.io-0");
		expect(await ctx.store.blocks.list()).toHaveLength(1);
		// The account was reset (e.g. a redeemed credit elsewhere); once the cached report expires the
		// fresh one heals the block and the emptier account wins again.
		ctx.usageByEmail.set("a@x.io", { primary: 0, secondary: 0 });
		ctx.clock.advance(30 * 60_000);
		expect(await ctx.storage.getApiKey("acme", "s2")).toBe("access-a@x.io-0");
		expect(await ctx.store.blocks.list()).toHaveLength(0);
	});

	it("a slow usage provider does not delay selection past the bound", async () => {
		const clock = manualClock();
		let release!: () => void;
		const slow = new Promise<void>((resolve) => {
			release = resolve;
		});
		const usage: UsageProvider = {
			fetchUsage: async () => {
				await slow;
				return null;
			},
		};
		const plugin = fakeOAuthPlugin("acme", clock, { ranking: strategy, usage });
		const store = createMemoryStore({ clock });
		await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await store.rows.insert("acme", oauth("b@x.io", clock.now()));
		const storage = new AuthStorage(store, { providers: [plugin], clock, env: {}, usageRequestTimeoutMs: 20 });
		await storage.reload();
		let slowDone = false;
		void slow.then(() => {
			slowDone = true;
		});
		// The ranking wait is max(5 s, 1.5 × 20 ms); the request timeout (20 ms) ends each fetch first.
		const key = await storage.getApiKey("acme", "s");
		expect(key).toMatch(/^access-/);
		expect(slowDone).toBe(false);
		release();
	});
});

describe("invalidateUsageCache", () => {
	it("drops cached reports (one provider's or all) so the next read asks the provider; tells the upstream first", async () => {
		const ctx = setup();
		ctx.usageByEmail.set("a@x.io", { primary: 0.1, secondary: 0.1 });
		await accounts(ctx, ["a@x.io"]);
		const used = async () => (await ctx.storage.fetchUsageReports())[0]?.limits[0]?.amount.usedFraction;
		expect(await used()).toBe(0.1);
		ctx.usageByEmail.set("a@x.io", { primary: 0.6, secondary: 0.1 });
		expect(await used()).toBe(0.1);
		const fetches = ctx.fetches();
		await ctx.storage.invalidateUsageCache({ provider: "other" });
		expect(await used()).toBe(0.1);
		await ctx.storage.invalidateUsageCache({ provider: "acme" });
		expect(await used()).toBe(0.6);
		ctx.usageByEmail.set("a@x.io", { primary: 0.8, secondary: 0.1 });
		await ctx.storage.invalidateUsageCache();
		expect(await used()).toBe(0.8);
		expect(ctx.fetches() - fetches).toBe(2);
		await expect(ctx.storage.invalidateUsageCache({ provider: "Bad Id" })).rejects.toMatchObject({
			code: "INVALID_INPUT",
		});

		// With an upstream (a broker), it is told first; its failure is reported after the local drop.
		const calls: unknown[] = [];
		const upstreamStore = new Proxy(ctx.store, {
			get: (target, property) =>
				property === "upstream"
					? {
							invalidateUsageCache: async (options: unknown) => {
								calls.push(options);
								throw new AuthpoolError("UPSTREAM_ERROR", "broker down");
							},
						}
					: Reflect.get(target, property),
		});
		const withUpstream = new AuthStorage(upstreamStore, { providers: [ctx.plugin], clock: ctx.clock, env: {} });
		await withUpstream.reload();
		const usedThere = async () => (await withUpstream.fetchUsageReports())[0]?.limits[0]?.amount.usedFraction;
		expect(await usedThere()).toBe(0.8);
		ctx.usageByEmail.set("a@x.io", { primary: 0.9, secondary: 0.1 });
		await expect(withUpstream.invalidateUsageCache({ provider: "acme" })).rejects.toMatchObject({
			code: "UPSTREAM_ERROR",
		});
		expect(calls).toEqual([{ provider: "acme" }]);
		expect(await usedThere()).toBe(0.9);
	});
});
