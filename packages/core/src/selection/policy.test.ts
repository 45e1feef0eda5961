import { describe, expect, it } from "vitest";
import { AuthStorage, type AuthStorageOptions } from "../auth-storage";
import { fakeOAuthPlugin, HOUR, manualClock, oauth } from "../auth-storage.test-utils";
import { AuthpoolError } from "../errors";
import { createMemoryStore, createMemoryStoreBackend } from "../store/memory-store";
import type { AuthCredential } from "../types";
import type { CredentialRankingStrategy, UsageLimit, UsageProvider } from "../usage/types";

function limit(id: string, used: number, durationMs: number, resetsAt: number): UsageLimit {
	return {
		id,
		label: id,
		scope: { provider: "acme" },
		window: { id, label: id, durationMs, resetsAt },
		amount: { usedFraction: used, unit: "percent" },
		status: used >= 1 ? "exhausted" : "ok",
	};
}

const strategy: CredentialRankingStrategy = {
	windowDefaults: { primaryMs: 5 * HOUR, secondaryMs: 7 * 24 * HOUR },
	findWindowLimits: (report) => ({ primary: report.limits.find((l) => l.id === "5h") }),
};

/** A provider whose accounts report `100 - headroom[email]` percent used; `pro` emails are Pro plans. */
function setup(options: AuthStorageOptions = {}, extra: { eligible?: boolean; noUsage?: boolean } = {}) {
	const clock = manualClock();
	const headroom = new Map<string, number>();
	let fetches = 0;
	const usage: UsageProvider = {
		fetchUsage: async (params) => {
			fetches += 1;
			const room = headroom.get(params.credential.email ?? "");
			if (room === undefined) return null;
			const measured = limit("5h", (100 - room) / 100, 5 * HOUR, clock.now() + 4 * HOUR);
			// NaN headroom: the provider answers but reports no used fraction (unmeasured).
			if (Number.isNaN(room)) measured.amount = { unit: "percent" };
			return { provider: "acme", fetchedAt: clock.now(), limits: [measured] };
		},
	};
	const plugin = fakeOAuthPlugin("acme", clock, extra.noUsage ? {} : { ranking: strategy, usage });
	if (extra.eligible) {
		plugin.eligible = (credential, { modelId }) => {
			if (!modelId?.startsWith("spark")) return true;
			const pro = credential.type === "oauth" && credential.email?.startsWith("pro");
			return pro ? true : "spark models need a Pro plan";
		};
	}
	const backend = createMemoryStoreBackend();
	const store = createMemoryStore({ clock, backend });
	const make = (more: AuthStorageOptions = {}) =>
		new AuthStorage(createMemoryStore({ clock, backend }), {
			providers: [plugin],
			clock,
			env: {},
			...options,
			...more,
		});
	return { clock, store, headroom, plugin, make, fetches: () => fetches };
}

type Ctx = ReturnType<typeof setup>;

async function accounts(ctx: Ctx, emails: string[], storage: AuthStorage) {
	const rows = [];
	for (const email of emails) {
		rows.push(await ctx.store.rows.insert("acme", oauth(email, ctx.clock.now(), { accountId: `acct-${email}` })));
	}
	await storage.reload();
	return rows;
}

const whoHas = (key: string | undefined) => key?.replace(/^access-/, "").replace(/-(?:r?\d+)$/, "");

/** Fixed seeds: the same 150 (or more) session ids every run. */
const sessions = (seed: string, n = 150) => Array.from({ length: n }, (_, i) => `session-${seed}-${i}`);

async function tally(storage: AuthStorage, ids: string[], modelId?: string) {
	const counts = new Map<string, number>();
	for (const id of ids) {
		const who = whoHas(await storage.getApiKey("acme", id, modelId ? { modelId } : undefined))!;
		counts.set(who, (counts.get(who) ?? 0) + 1);
	}
	return counts;
}

describe("balanced selection", () => {
	it("fresh sessions avoid a 90%-used account and near-ties share the rest (150 sessions)", async () => {
		const ctx = setup();
		const storage = ctx.make();
		await accounts(ctx, ["a@x.io", "b@x.io", "c@x.io"], storage);
		ctx.headroom.set("a@x.io", 80).set("b@x.io", 78).set("c@x.io", 10);
		const counts = await tally(storage, sessions("balanced"));
		console.log("balanced spread", Object.fromEntries(counts));
		expect(counts.get("c@x.io") ?? 0).toBe(0);
		// Near-ties (within the tolerance) are spread by the session hash: neither takes nearly all.
		expect(counts.get("a@x.io")!).toBeGreaterThan(45);
		expect(counts.get("b@x.io")!).toBeGreaterThan(45);
	});

	it("an account outside the near-tie tolerance gets no fresh session", async () => {
		const ctx = setup();
		const storage = ctx.make();
		await accounts(ctx, ["a@x.io", "b@x.io"], storage);
		ctx.headroom.set("a@x.io", 80).set("b@x.io", 70);
		const counts = await tally(storage, sessions("tolerance"));
		expect(counts.get("a@x.io")).toBe(150);
	});
});

describe("incremental ranking", () => {
	it("ranks once while nothing changes; a block, a new report or a row change re-ranks", async () => {
		const ctx = setup();
		let windowLookups = 0;
		const ranking = ctx.plugin.ranking!;
		ctx.plugin.ranking = {
			...ranking,
			findWindowLimits: (report, rankingContext) => {
				windowLookups += 1;
				return ranking.findWindowLimits(report, rankingContext);
			},
		};
		const storage = ctx.make();
		await accounts(ctx, ["a@x.io", "b@x.io", "c@x.io"], storage);
		ctx.headroom.set("a@x.io", 80).set("b@x.io", 60).set("c@x.io", 40);
		await storage.getApiKey("acme");
		const afterFirst = windowLookups;
		for (let i = 0; i < 50; i += 1) await storage.getApiKey("acme", `incremental-${i}`);
		for (let i = 0; i < 50; i += 1) await storage.getApiKey("acme");
		expect(windowLookups).toBe(afterFirst);
		await storage.markUsageLimitReached("acme", undefined, { apiKey: "access-a@x.io-0", retryAfterMs: 60_000 });
		expect(whoHas(await storage.getApiKey("acme", "after-block"))).toBe("b@x.io");
		expect(windowLookups).toBeGreaterThan(afterFirst);
		const afterBlock = windowLookups;
		await storage.getApiKey("acme", "after-block-2");
		expect(windowLookups).toBe(afterBlock);
		await storage.upsertCredential("acme", oauth("d@x.io", ctx.clock.now()));
		ctx.headroom.set("d@x.io", 99);
		expect(whoHas(await storage.getApiKey("acme", "after-row"))).toBe("d@x.io");
	});
});

describe("fixed selection", () => {
	it("always the first account in priority order; the next only while it is blocked", async () => {
		const ctx = setup({ accountSelection: "fixed" });
		const storage = ctx.make();
		await accounts(ctx, ["a@x.io", "b@x.io", "c@x.io"], storage);
		ctx.headroom.set("a@x.io", 5).set("b@x.io", 90).set("c@x.io", 90);
		await storage.setAccountPriority("acme", ["b@x.io", "c@x.io", "a@x.io"]);
		const counts = await tally(storage, [...sessions("fixed", 20), ...Array(5).fill(undefined)]);
		expect(counts.get("b@x.io")).toBe(25);
		// A limit on b moves everyone (sessions and session-less) to c, the next priority.
		await storage.markUsageLimitReached("acme", "session-fixed-0", { retryAfterMs: 60_000 });
		expect(whoHas(await storage.getApiKey("acme", "session-fixed-3"))).toBe("c@x.io");
		expect(whoHas(await storage.getApiKey("acme"))).toBe("c@x.io");
		// Back to b as soon as its block lifts, even for sessions that were on c.
		ctx.clock.advance(61_000);
		expect(whoHas(await storage.getApiKey("acme", "session-fixed-3"))).toBe("b@x.io");
		expect(whoHas(await storage.getApiKey("acme"))).toBe("b@x.io");
	});

	it("session-less calls do not round-robin; API keys go in stored order with no usage probes", async () => {
		const ctx = setup({ accountSelection: "fixed" });
		const storage = ctx.make();
		for (const key of ["test-key-1", "test-key-2", "test-key-3"])
			await ctx.store.rows.insert("acme", { type: "api_key", key });
		await storage.reload();
		const keys = [];
		for (let i = 0; i < 6; i += 1) keys.push(await storage.getApiKey("acme"));
		for (let i = 0; i < 6; i += 1) keys.push(await storage.getApiKey("acme", `s-${i}`));
		expect(new Set(keys)).toEqual(new Set(["test-key-1"]));
		expect(ctx.fetches()).toBe(0);
		await storage.markUsageLimitReached("acme", undefined, { apiKey: "test-key-1" });
		expect(await storage.getApiKey("acme")).toBe("test-key-2");
	});

	it("balanced session-less API keys still take turns; the mode changes live", async () => {
		const ctx = setup();
		const storage = ctx.make();
		for (const key of ["test-key-1", "test-key-2"]) await ctx.store.rows.insert("acme", { type: "api_key", key });
		await storage.reload();
		const turns = [await storage.getApiKey("acme"), await storage.getApiKey("acme")];
		expect(new Set(turns).size).toBe(2);
		storage.setAccountSelection("acme", "fixed");
		expect(storage.getAccountPolicy("acme").accountSelection).toBe("fixed");
		expect([await storage.getApiKey("acme"), await storage.getApiKey("acme")]).toEqual(["test-key-1", "test-key-1"]);
		expect(() => storage.setAccountSelection("acme", "random" as never)).toThrow(/mode/);
	});
});

describe("account priority", () => {
	it("selectors are a row id, an account id or an email; listed 1-based; stored for every instance", async () => {
		const ctx = setup();
		const storage = ctx.make();
		const rows = await accounts(ctx, ["a@x.io", "b@x.io", "c@x.io", "d@x.io"], storage);
		await storage.setAccountPriority("acme", ["C@X.io", rows[0]!.id, "acct-b@x.io"]);
		const listed = storage.listOAuthAccounts("acme").map((a) => [a.email, a.priority]);
		expect(listed).toEqual([
			["a@x.io", 2],
			["b@x.io", 3],
			["c@x.io", 1],
			["d@x.io", undefined],
		]);
		const other = ctx.make();
		await other.reload();
		expect(other.listOAuthAccounts("acme").map((a) => a.priority)).toEqual([2, 3, 1, undefined]);
		expect(other.getAccountPolicy("acme").accountPriority).toEqual(["C@X.io", rows[0]!.id, "acct-b@x.io"]);
		// A peer's change arrives with the next change check.
		await storage.setAccountPriority("acme", ["d@x.io"]);
		await other.pollChanges();
		expect(other.listOAuthAccounts("acme").map((a) => a.priority)).toEqual([undefined, undefined, undefined, 1]);
		await storage.setAccountPriority("acme", []);
		await other.pollChanges();
		expect(other.listOAuthAccounts("acme").every((a) => a.priority === undefined)).toBe(true);
	});

	it("a selector that names no account is a typed error; bad selectors are INVALID_INPUT", async () => {
		const ctx = setup();
		const storage = ctx.make();
		await accounts(ctx, ["a@x.io"], storage);
		await expect(storage.setAccountPriority("acme", ["nobody@x.io"])).rejects.toMatchObject({ code: "NOT_FOUND" });
		await expect(storage.setAccountPriority("acme", [""] as never)).rejects.toMatchObject({ code: "INVALID_INPUT" });
		await expect(storage.setAccountPriority("acme", "a@x.io" as never)).rejects.toMatchObject({
			code: "INVALID_INPUT",
		});
	});

	it("strict priority beats usage headroom; a 429 fails over to the next priority", async () => {
		const ctx = setup();
		const storage = ctx.make();
		await accounts(ctx, ["a@x.io", "b@x.io", "c@x.io"], storage);
		ctx.headroom.set("a@x.io", 95).set("b@x.io", 30).set("c@x.io", 60);
		await storage.setAccountPriority("acme", ["b@x.io", "c@x.io"]);
		const counts = await tally(storage, sessions("priority"));
		expect(counts.get("b@x.io")).toBe(150);
		const { switched } = await storage.markUsageLimitReached("acme", "session-priority-0", { retryAfterMs: 60_000 });
		expect(switched).toBe(true);
		expect(whoHas(await storage.getApiKey("acme", "session-priority-0"))).toBe("c@x.io");
		expect(whoHas(await storage.getApiKey("acme", "fresh-session"))).toBe("c@x.io");
	});
});

describe("reserve and reclaim", () => {
	it("an account below the reserve is used only when every sibling is too", async () => {
		const ctx = setup({ accountPolicies: { acme: { reservePct: 20 } } });
		const storage = ctx.make();
		await accounts(ctx, ["a@x.io", "b@x.io"], storage);
		await storage.setAccountPriority("acme", ["a@x.io"]);
		ctx.headroom.set("a@x.io", 15).set("b@x.io", 40);
		expect((await tally(storage, sessions("reserve"))).get("b@x.io")).toBe(150);
		ctx.headroom.set("b@x.io", 12);
		ctx.clock.advance(10 * 60_000); // usage cache expires
		expect((await tally(storage, sessions("reserve-all"))).get("a@x.io")).toBe(150);
	});

	async function pushedToBackup(reclaimAbovePct = 50) {
		const ctx = setup({ accountPolicies: { acme: { reservePct: 20, reclaimAbovePct } } });
		const storage = ctx.make();
		await accounts(ctx, ["primary@x.io", "backup@x.io"], storage);
		await storage.setAccountPriority("acme", ["primary@x.io", "backup@x.io"]);
		ctx.headroom.set("primary@x.io", 90).set("backup@x.io", 90);
		expect(whoHas(await storage.getApiKey("acme", "warm"))).toBe("primary@x.io");
		await storage.markUsageLimitReached("acme", "warm", { retryAfterMs: 60_000 });
		expect(whoHas(await storage.getApiKey("acme", "warm"))).toBe("backup@x.io");
		ctx.clock.advance(61_000);
		return { ctx, storage };
	}

	it("a warm session returns to its higher priority exactly at the line, not one point below", async () => {
		const below = await pushedToBackup();
		below.ctx.headroom.set("primary@x.io", 49);
		below.ctx.clock.advance(10 * 60_000);
		expect(whoHas(await below.storage.getApiKey("acme", "warm"))).toBe("backup@x.io");
		const at = await pushedToBackup();
		at.ctx.headroom.set("primary@x.io", 50);
		at.ctx.clock.advance(10 * 60_000);
		expect(whoHas(await at.storage.getApiKey("acme", "warm"))).toBe("primary@x.io");
		expect(await at.storage.getSessionPin("acme", "warm")).toMatchObject({ explicit: false, state: "active" });
	});

	it("no reclaim between the reserve and the reclaim line, and no oscillation once back", async () => {
		const { ctx, storage } = await pushedToBackup();
		ctx.headroom.set("primary@x.io", 30); // above reserve 20, below reclaim 50
		ctx.clock.advance(10 * 60_000);
		for (let i = 0; i < 5; i += 1) expect(whoHas(await storage.getApiKey("acme", "warm"))).toBe("backup@x.io");
		ctx.headroom.set("primary@x.io", 80);
		ctx.clock.advance(10 * 60_000);
		expect(whoHas(await storage.getApiKey("acme", "warm"))).toBe("primary@x.io");
		// Primary drains below the line (and even below the reserve): the session stays, no flip-flop.
		ctx.headroom.set("primary@x.io", 10);
		ctx.clock.advance(10 * 60_000);
		const seen = new Set<string | undefined>();
		for (let i = 0; i < 10; i += 1) seen.add(whoHas(await storage.getApiKey("acme", "warm")));
		expect(seen).toEqual(new Set(["primary@x.io"]));
	});

	it("never for equal priority, unmeasured usage or explicit pins", async () => {
		// Equal priority (both unlisted): a session moved by a limit stays where it went.
		const ctx = setup({ accountPolicies: { acme: { reclaimAbovePct: 50 } } });
		const storage = ctx.make();
		await accounts(ctx, ["a@x.io", "b@x.io"], storage);
		ctx.headroom.set("a@x.io", 90).set("b@x.io", 90);
		const first = whoHas(await storage.getApiKey("acme", "eq"));
		await storage.markUsageLimitReached("acme", "eq", { retryAfterMs: 60_000 });
		const moved = whoHas(await storage.getApiKey("acme", "eq"));
		expect(moved).not.toBe(first);
		ctx.clock.advance(61_000 + 10 * 60_000);
		expect(whoHas(await storage.getApiKey("acme", "eq"))).toBe(moved);

		// Unmeasured usage of the higher priority: no reclaim.
		const unmeasured = await pushedToBackup();
		unmeasured.ctx.headroom.set("primary@x.io", Number.NaN);
		unmeasured.ctx.clock.advance(10 * 60_000);
		expect(whoHas(await unmeasured.storage.getApiKey("acme", "warm"))).toBe("backup@x.io");

		// An explicit pin to the backup is never reclaimed.
		const pinned = await pushedToBackup();
		const backup = pinned.storage.listOAuthAccounts("acme").find((a) => a.email === "backup@x.io")!;
		await pinned.storage.pinSession("acme", "warm", backup.credentialId);
		pinned.ctx.headroom.set("primary@x.io", 100);
		pinned.ctx.clock.advance(10 * 60_000);
		expect(whoHas(await pinned.storage.getApiKey("acme", "warm"))).toBe("backup@x.io");
	});

	it("validation: 0–100, reclaim above reserve, reclaim needs a usage provider", async () => {
		const ctx = setup();
		const storage = ctx.make();
		const code = (fn: () => unknown) => {
			try {
				fn();
			} catch (error) {
				return AuthpoolError.isInstance(error) ? error.code : "other";
			}
			return "none";
		};
		expect(code(() => ctx.make({ accountPolicies: { acme: { reservePct: 101 } } }))).toBe("INVALID_OPTIONS");
		expect(code(() => ctx.make({ accountPolicies: { acme: { reservePct: 30, reclaimAbovePct: 30 } } }))).toBe(
			"INVALID_OPTIONS",
		);
		expect(code(() => storage.setAccountReserve("acme", { reservePct: -1 }))).toBe("INVALID_INPUT");
		expect(code(() => storage.setAccountReserve("acme", { reservePct: 40, reclaimAbovePct: 20 }))).toBe(
			"INVALID_INPUT",
		);
		expect(code(() => storage.setAccountReserve("acme", { reservePct: 20, reclaimAbovePct: 60 }))).toBe("none");
		expect(storage.getAccountPolicy("acme")).toMatchObject({ reservePct: 20, reclaimAbovePct: 60 });
		const bare = setup({}, { noUsage: true });
		expect(() => bare.make().setAccountReserve("acme", { reclaimAbovePct: 50 })).toThrow(/usage provider/);
		expect(code(() => bare.make({ accountPolicies: { acme: { reclaimAbovePct: 50 } } }))).toBe("INVALID_OPTIONS");
	});
});

describe("explicit pins", () => {
	it("win over ranking and priority and survive a restart; unpin returns the session to selection", async () => {
		const ctx = setup();
		const storage = ctx.make();
		const rows = await accounts(ctx, ["a@x.io", "b@x.io", "c@x.io"], storage);
		ctx.headroom.set("a@x.io", 90).set("b@x.io", 90).set("c@x.io", 5);
		await storage.setAccountPriority("acme", ["a@x.io"]);
		await storage.pinSession("acme", "mine", rows[2]!.id);
		expect(whoHas(await storage.getApiKey("acme", "mine"))).toBe("c@x.io");
		await storage.close();
		const restarted = ctx.make();
		await restarted.reload();
		expect(whoHas(await restarted.getApiKey("acme", "mine"))).toBe("c@x.io");
		expect(await restarted.getSessionPin("acme", "mine")).toEqual({
			credentialId: rows[2]!.id,
			type: "oauth",
			explicit: true,
			state: "active",
		});
		expect(await restarted.unpinSession("acme", "mine")).toBe(true);
		expect(whoHas(await restarted.getApiKey("acme", "mine"))).toBe("a@x.io");
		await expect(restarted.pinSession("acme", "mine", 999)).rejects.toMatchObject({ code: "NOT_FOUND" });
	});

	it("a pin to a blocked row fails over in balanced mode and waits in fixed mode, and says which", async () => {
		const ctx = setup();
		const storage = ctx.make();
		const rows = await accounts(ctx, ["a@x.io", "b@x.io"], storage);
		ctx.headroom.set("a@x.io", 90).set("b@x.io", 90);
		await storage.pinSession("acme", "p", rows[1]!.id);
		await storage.markUsageLimitReached("acme", "p", { retryAfterMs: 60_000 });
		expect(whoHas(await storage.getApiKey("acme", "p"))).toBe("a@x.io");
		expect(await storage.getSessionPin("acme", "p")).toMatchObject({ explicit: true, state: "failed-over" });
		storage.setAccountSelection("acme", "fixed");
		expect(whoHas(await storage.getApiKey("acme", "p"))).toBe("b@x.io");
		expect(await storage.getSessionPin("acme", "p")).toMatchObject({
			state: "waiting",
			blockedUntil: ctx.clock.now() + 60_000,
		});
		storage.setAccountSelection("acme", "balanced");
		ctx.clock.advance(61_000);
		// The explicit pin was kept through the failover: back on b once it frees.
		expect(whoHas(await storage.getApiKey("acme", "p"))).toBe("b@x.io");
		expect(await storage.getSessionPin("acme", "p")).toMatchObject({ state: "active" });
	});
});

describe("eligibility", () => {
	it("ineligible rows are skipped in every mode; a request no row can serve is NO_ELIGIBLE_CREDENTIAL", async () => {
		for (const mode of ["balanced", "fixed"] as const) {
			const ctx = setup({ accountSelection: mode }, { eligible: true });
			const storage = ctx.make();
			await accounts(ctx, ["plus-1@x.io", "pro-1@x.io", "plus-2@x.io"], storage);
			ctx.headroom.set("plus-1@x.io", 95).set("pro-1@x.io", 10).set("plus-2@x.io", 95);
			const counts = await tally(storage, sessions(`spark-${mode}`), "spark-1");
			expect(counts.get("pro-1@x.io")).toBe(150);
			// A session pinned to a Plus account asks for Spark: served by the Pro account.
			const plus = whoHas(await storage.getApiKey("acme", "mixed"));
			expect(plus).not.toBe("pro-1@x.io");
			expect(whoHas(await storage.getApiKey("acme", "mixed", { modelId: "spark-1" }))).toBe("pro-1@x.io");
		}
		const ctx = setup({}, { eligible: true });
		const storage = ctx.make();
		await accounts(ctx, ["plus-1@x.io"], storage);
		await ctx.store.rows.insert("acme", { type: "api_key", key: "test-key-1" } satisfies AuthCredential);
		await storage.reload();
		const error = await storage.getApiKey("acme", "s", { modelId: "spark-1" }).catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("NO_ELIGIBLE_CREDENTIAL");
		expect((error as Error).message).toMatch(/spark models need a Pro plan/);
		expect((error as Error).message).not.toMatch(/access-|test-key/);
		expect(whoHas(await storage.getApiKey("acme", "s"))).toBe("plus-1@x.io");
	});
});
