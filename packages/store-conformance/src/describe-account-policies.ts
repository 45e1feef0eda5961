import {
	type AuthCredentialStore,
	AuthStorage,
	type AuthStorageOptions,
	type ProviderPlugin,
	type UsageLimit,
} from "@authpool/core";
import { describe, expect } from "vitest";
import { oauthLogin } from "./fixtures";
import { expectAuthpoolError, itWhen, resolveCapabilities, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";
import type { TestClock } from "./test-clock";

const HOUR = 3_600_000;

/** A provider whose accounts report `100 - headroom[email]` percent used of one 5-hour window. */
function usagePlugin(clock: TestClock, headroom: Map<string, number>): ProviderPlugin {
	return {
		id: "acme",
		usage: {
			fetchUsage: async ({ credential }) => {
				const room = headroom.get(credential.email ?? "");
				if (room === undefined) return null;
				const limit: UsageLimit = {
					id: "5h",
					label: "5h",
					scope: { provider: "acme" },
					window: { id: "5h", label: "5h", durationMs: 5 * HOUR, resetsAt: clock.now() + 4 * HOUR },
					amount: { usedFraction: (100 - room) / 100, unit: "percent" },
					status: room <= 0 ? "exhausted" : "ok",
				};
				return { provider: "acme", fetchedAt: clock.now(), limits: [limit] };
			},
		},
		ranking: {
			windowDefaults: { primaryMs: 5 * HOUR, secondaryMs: 7 * 24 * HOUR },
			findWindowLimits: (report) => ({ primary: report.limits[0] }),
		},
	};
}

const whoHas = (key: string | undefined) => key?.replace(/^access-/, "").replace(/-\d+$/, "");

/**
 * Provider settings (the stored account priority), batched cache writes, and the account policies of
 * `AuthStorage` running on the store: priority, modes, reserve/reclaim and explicit pins behave the
 * same on every store, across instances and restarts.
 */
export function describeAccountPolicies(options: StoreConformanceOptions): void {
	describe("provider settings and account policies", async () => {
		const capabilities = await resolveCapabilities(options);
		const harness = useStoreHarness(options);
		const test = itWhen(capabilities);
		const twoInstances = itWhen(capabilities, "sharedAcrossInstances");

		// `settings` is optional in the contract: a store without it keeps the priority in its cache.
		const settingsOf = (store: AuthCredentialStore) => store.settings;

		test("settings: null until set; set replaces; list returns every provider; writes move the revision", async () => {
			const { store } = await harness.open();
			const settings = settingsOf(store);
			if (!settings) return;
			expect(await settings.get("anthropic")).toBeNull();
			const before = await store.changes.revision();
			await settings.set("anthropic", { accountPriority: ["b@example.com", 7] });
			expect(await store.changes.revision()).not.toBe(before);
			await settings.set("openai-codex", { accountPriority: [] });
			await settings.set("anthropic", { accountPriority: [3, "acct-1"] });
			expect(await settings.get("anthropic")).toEqual({ accountPriority: [3, "acct-1"] });
			expect({ ...(await settings.list()) }).toEqual({
				anthropic: { accountPriority: [3, "acct-1"] },
				"openai-codex": { accountPriority: [] },
			});
		});

		test("settings: bad input is INVALID_INPUT", async () => {
			const { store } = await harness.open();
			const settings = settingsOf(store);
			if (!settings) return;
			await expectAuthpoolError(settings.set("", { accountPriority: [] }), "INVALID_INPUT");
			await expectAuthpoolError(settings.set("anthropic", { accountPriority: [""] }), "INVALID_INPUT");
			await expectAuthpoolError(settings.set("anthropic", { accountPriority: [-1] }), "INVALID_INPUT");
			await expectAuthpoolError(settings.set("anthropic", {} as never), "INVALID_INPUT");
		});

		test("cache.setMany writes every entry (the last value of a key wins)", async () => {
			const { store, clock } = await harness.open();
			if (!store.cache.setMany) return;
			await store.cache.setMany([
				{ key: "session:acme:a", value: "1", expiresAt: clock.now() + 60_000 },
				{ key: "session:acme:b", value: "2", expiresAt: clock.now() + 60_000 },
				{ key: "session:acme:a", value: "3", expiresAt: clock.now() + 60_000 },
			]);
			expect(await store.cache.get("session:acme:a")).toBe("3");
			expect(await store.cache.get("session:acme:b")).toBe("2");
			await store.cache.setMany([]);
		});

		twoInstances(
			"two instances: priority set on one is used by the other; an explicit pin set on one routes the session on the other",
			async () => {
				const { a, b, clock } = await harness.openPair();
				const headroom = new Map([
					["a@example.com", 90],
					["b@example.com", 90],
					["c@example.com", 20],
				]);
				const make = (store: AuthCredentialStore, more: AuthStorageOptions = {}) =>
					new AuthStorage(store, { providers: [usagePlugin(clock, headroom)], clock, env: {}, ...more });
				const one = make(a);
				for (const email of ["a@example.com", "b@example.com", "c@example.com"]) {
					await a.rows.insert("acme", oauthLogin(email));
				}
				await one.reload();
				await one.setAccountPriority("acme", ["c@example.com", "a@example.com"]);
				const two = make(b);
				await two.reload();
				expect(two.listOAuthAccounts("acme").map((account) => account.priority)).toEqual([2, undefined, 1]);
				// Strict priority beats headroom on the peer too.
				expect(whoHas(await two.getApiKey("acme", "s1"))).toBe("c@example.com");
				const b2 = two.listOAuthAccounts("acme").find((account) => account.email === "b@example.com")!;
				await two.pinSession("acme", "mine", b2.credentialId);
				expect(whoHas(await one.getApiKey("acme", "mine"))).toBe("b@example.com");
				await one.close();
				await two.close();
			},
		);

		test("balanced spreads 150 fresh sessions over near-tied accounts and never onto a drained one", async () => {
			const { store, clock } = await harness.open();
			const headroom = new Map([
				["a@example.com", 82],
				["b@example.com", 80],
				["c@example.com", 10],
			]);
			const storage = new AuthStorage(store, { providers: [usagePlugin(clock, headroom)], clock, env: {} });
			for (const email of headroom.keys()) await store.rows.insert("acme", oauthLogin(email));
			await storage.reload();
			const counts = new Map<string, number>();
			for (let i = 0; i < 150; i += 1) {
				const who = whoHas(await storage.getApiKey("acme", `conformance-${i}`))!;
				counts.set(who, (counts.get(who) ?? 0) + 1);
			}
			expect(counts.get("c@example.com") ?? 0).toBe(0);
			expect(counts.get("a@example.com")!).toBeGreaterThan(45);
			expect(counts.get("b@example.com")!).toBeGreaterThan(45);
			await storage.close();
		});

		test("fixed mode, reserve and reclaim: back to the primary exactly at the line, not one point below", async () => {
			for (const [primaryHeadroom, expected] of [
				[49, "backup@example.com"],
				[50, "primary@example.com"],
			] as const) {
				const { store, clock } = await harness.open();
				const headroom = new Map([
					["primary@example.com", 90],
					["backup@example.com", 90],
				]);
				const storage = new AuthStorage(store, {
					providers: [usagePlugin(clock, headroom)],
					clock,
					env: {},
					accountPolicies: { acme: { reservePct: 20, reclaimAbovePct: 50 } },
				});
				await store.rows.insert("acme", oauthLogin("backup@example.com"));
				await store.rows.insert("acme", oauthLogin("primary@example.com"));
				await storage.reload();
				await storage.setAccountPriority("acme", ["primary@example.com"]);
				expect(whoHas(await storage.getApiKey("acme", "warm"))).toBe("primary@example.com");
				await storage.markUsageLimitReached("acme", "warm", { retryAfterMs: 60_000 });
				expect(whoHas(await storage.getApiKey("acme", "warm"))).toBe("backup@example.com");
				headroom.set("primary@example.com", primaryHeadroom);
				clock.advance(11 * 60_000);
				expect(whoHas(await storage.getApiKey("acme", "warm"))).toBe(expected);
				// Fixed mode: the first account in priority order for everyone, sessions included.
				storage.setAccountSelection("acme", "fixed");
				expect(whoHas(await storage.getApiKey("acme", "warm"))).toBe("primary@example.com");
				expect(whoHas(await storage.getApiKey("acme"))).toBe("primary@example.com");
				await storage.close();
			}
		});

		test("tombstones through AuthStorage: retention, re-login, lifecycle replacement, deliberate removal, logout", async () => {
			const { store, clock } = await harness.open();
			if (!store.rows.purgeDisabled) return;
			const storage = new AuthStorage(store, { providers: [], clock, env: {}, tombstoneRetentionMs: 10 * HOUR });
			await storage.reload();
			const [a1] = await storage.upsertCredential("acme", oauthLogin("a@example.com", 1));
			await storage.disableCredentialById(a1!.id, "invalid_grant");
			// The automatic tombstone survives a re-login of the same identity.
			const a2 = (await storage.upsertCredential("acme", oauthLogin("a@example.com", 2))).find((e) => e.id !== a1!.id)!;
			expect((await storage.listDisabledCredentials("acme")).map((t) => t.credentialId)).toEqual([a1!.id]);
			// A deliberate removal supersedes it (that identity only).
			const [o] = await storage.upsertCredential("other", oauthLogin("o@example.com", 1));
			await storage.disableCredentialById(o!.id, "invalid_grant");
			await storage.removeCredential("acme", a2.id);
			expect((await storage.listDisabledCredentials()).map((t) => t.credentialId)).toEqual([a2.id, o!.id]);
			// A lifecycle replacement leaves nothing behind.
			await storage.set("acme", [oauthLogin("b@example.com", 1), oauthLogin("c@example.com", 1)]);
			const c = storage
				.listStoredCredentials("acme")
				.find((row) => row.credential.type === "oauth" && row.credential.email === "c@example.com")!;
			await storage.set("acme", [oauthLogin("b@example.com", 1)]);
			expect(await store.rows.get(c.id)).toBeNull();
			// Retention: pruned on read once past it.
			clock.advance(10 * HOUR);
			expect(await storage.listDisabledCredentials()).toEqual([]);
			expect(await store.rows.get(o!.id)).toBeNull();
			// Logout clears that provider's history only.
			const [p] = await storage.upsertCredential("other", oauthLogin("p@example.com", 1));
			await storage.disableCredentialById(p!.id, "invalid_grant");
			await storage.removeCredential("acme", storage.listStoredCredentials("acme")[0]!.id);
			await storage.logout("acme");
			expect((await storage.listDisabledCredentials()).map((t) => t.credentialId)).toEqual([p!.id]);
			await storage.close();
		});

		twoInstances(
			"withAuth on the store: a usage limit blocks the row for a peer too; a 403 moves to a sibling",
			async () => {
				const { a, b, clock } = await harness.openPair();
				const headroom = new Map([
					["a@example.com", 90],
					["b@example.com", 90],
					["c@example.com", 90],
				]);
				const one = new AuthStorage(a, { providers: [usagePlugin(clock, headroom)], clock, env: {} });
				for (const email of headroom.keys()) await a.rows.insert("acme", oauthLogin(email));
				await one.reload();
				const first = (await one.getApiKey("acme", "w"))!;
				const tried: string[] = [];
				const result = await one.withAuth(
					"acme",
					async (key) => {
						tried.push(key);
						if (key === first) throw Object.assign(new Error("usage_limit_reached"), { status: 429 });
						return key;
					},
					{ sessionId: "w" },
				);
				expect(tried).toEqual([first, result]);
				expect(result).not.toBe(first);
				const two = new AuthStorage(b, { providers: [usagePlugin(clock, headroom)], clock, env: {} });
				await two.reload();
				for (let i = 0; i < 20; i += 1) expect(await two.getApiKey("acme", `peer-${i}`)).not.toBe(first);
				const forbidden: string[] = [];
				await two.withAuth(
					"acme",
					async (key) => {
						forbidden.push(key);
						if (forbidden.length === 1) throw Object.assign(new Error("forbidden"), { status: 403 });
						return key;
					},
					{ sessionId: "peer-0" },
				);
				expect(new Set(forbidden).size).toBe(2);
				expect(forbidden).not.toContain(first);
				await one.close();
				await two.close();
			},
		);
	});
}
