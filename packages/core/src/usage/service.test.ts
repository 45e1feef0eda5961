import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthpoolError } from "../errors";
import { createProviderRegistry, type ProviderPlugin } from "../plugin";
import { createMemoryStore, createMemoryStoreBackend, type MemoryStoreBackend } from "../store/memory-store";
import type { AuthCredentialStore } from "../store/store";
import { type AuthCredential, type StoredAuthCredential, silentLogger } from "../types";
import { UsageService, type UsageServiceOptions } from "./service";
import type { UsageFetchContext, UsageFetchParams, UsageLimit, UsageProvider, UsageReport } from "./types";

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;
const FRESH = 300_000;

interface TestClock {
	t: number;
	now(): number;
}

function makeClock(): TestClock {
	return {
		t: NOW,
		now() {
			return this.t;
		},
	};
}

function limit(id: string, usedFraction: number, label = id): UsageLimit {
	return {
		id,
		label,
		scope: { provider: "test" },
		window: { id, label: `${label} window`, resetsAt: NOW + HOUR },
		amount: { unit: "percent", usedFraction },
	};
}

function deferred<T>() {
	let resolve!: (value: T) => void;
	let reject!: (error: unknown) => void;
	const promise = new Promise<T>((res, rej) => {
		resolve = res;
		reject = rej;
	});
	return { promise, resolve, reject };
}

/** A usage plugin whose answer the test controls; counts calls. */
function fakeUsage(clock: TestClock) {
	const state = {
		calls: 0,
		params: [] as UsageFetchParams[],
		ctx: undefined as UsageFetchContext | undefined,
		used: 0.1,
		answer: undefined as ((params: UsageFetchParams) => Promise<UsageReport | null>) | undefined,
		supportsApiKeys: true,
	};
	const usage: UsageProvider = {
		async fetchUsage(params, ctx) {
			state.calls += 1;
			state.params.push(params);
			state.ctx = ctx;
			if (state.answer) return state.answer(params);
			return {
				provider: params.provider,
				fetchedAt: clock.now(),
				limits: [limit("primary", state.used), limit("secondary", state.used / 2)],
				metadata: { email: params.credential.email },
				raw: { big: "payload" },
			};
		},
		parseRateLimitHeaders(headers, now) {
			const limits: UsageLimit[] = [];
			if (headers["x-primary-used"] !== undefined) limits.push(limit("primary", Number(headers["x-primary-used"])));
			if (headers["x-burst-used"] !== undefined) limits.push(limit("burst", Number(headers["x-burst-used"])));
			return limits.length > 0 ? { provider: "test", fetchedAt: now, limits } : null;
		},
		supports(params) {
			return state.supportsApiKeys || params.credential.type === "oauth";
		},
	};
	return { state, usage };
}

function oauth(email: string, extra: Partial<Extract<AuthCredential, { type: "oauth" }>> = {}): AuthCredential {
	return {
		type: "oauth",
		access: `access-${email}`,
		refresh: `refresh-${email}`,
		expires: NOW + HOUR,
		email,
		...extra,
	};
}

interface Setup {
	clock: TestClock;
	store: AuthCredentialStore;
	plugin: ReturnType<typeof fakeUsage>;
	service: UsageService;
	row: StoredAuthCredential;
	make(options?: Partial<UsageServiceOptions>): UsageService;
}

async function setup(
	options: Partial<UsageServiceOptions> & {
		backend?: MemoryStoreBackend;
		wrapStore?: (store: AuthCredentialStore) => AuthCredentialStore;
	} = {},
): Promise<Setup> {
	const { backend, wrapStore, ...serviceOptions } = options;
	const clock = makeClock();
	const base = createMemoryStore({ clock, ...(backend ? { backend } : {}) });
	const store = wrapStore ? wrapStore(base) : base;
	const plugin = fakeUsage(clock);
	const plugins: ProviderPlugin[] = [{ id: "test", usage: plugin.usage }];
	const registry = createProviderRegistry(plugins);
	const make = (extra: Partial<UsageServiceOptions> = {}) =>
		new UsageService({
			store,
			registry,
			fetch: async () => {
				throw new Error("no network in tests");
			},
			clock,
			logger: silentLogger,
			env: {},
			random: () => 0.5,
			...serviceOptions,
			...extra,
		});
	const row = await base.rows.insert("test", oauth("a@example.com"));
	return { clock, store, plugin, service: make(), row, make };
}

afterEach(() => {
	vi.useRealTimers();
});

describe("UsageService.getReport caching", () => {
	it("serves a fresh report from memory without a second fetch", async () => {
		const { service, plugin, row, clock } = await setup();
		const first = await service.getReport(row);
		clock.t += FRESH - 1;
		const second = await service.getReport(row);
		expect(first?.limits.map((l) => l.id)).toEqual(["primary", "secondary"]);
		expect(second).toBe(first);
		expect(plugin.state.calls).toBe(1);
	});

	it("passes the row's credential, account key and base URL to the plugin", async () => {
		const { service, plugin, store } = await setup();
		const row = await store.rows.insert(
			"test",
			oauth("b@example.com", { accountId: "acc-1", projectId: "p", apiEndpoint: "https://api" }),
		);
		await service.getReport(row, { baseUrl: "https://proxy.example" });
		const params = plugin.state.params[0];
		expect(params?.credential).toMatchObject({
			type: "oauth",
			accessToken: "access-b@example.com",
			refreshToken: "refresh-b@example.com",
			expiresAt: NOW + HOUR,
			accountId: "acc-1",
			email: "b@example.com",
			projectId: "p",
			apiEndpoint: "https://api",
		});
		expect(params?.accountKey).toContain("account:acc-1");
		expect(params?.baseUrl).toBe("https://proxy.example");
		expect(params?.signal).toBeInstanceOf(AbortSignal);
		// A different base URL is a different cache entry.
		await service.getReport(row);
		expect(plugin.state.calls).toBe(2);
	});

	it("expires the fresh lifetime with ±25 % jitter and then refetches", async () => {
		const early = await setup({ random: () => 0 });
		await early.service.getReport(early.row);
		early.clock.t += 0.75 * FRESH - 1;
		await early.service.getReport(early.row);
		expect(early.plugin.state.calls).toBe(1);
		early.clock.t += 2;
		await early.service.getReport(early.row);
		expect(early.plugin.state.calls).toBe(2);

		const late = await setup({ random: () => 0.999 });
		await late.service.getReport(late.row);
		late.clock.t += 1.2 * FRESH;
		await late.service.getReport(late.row);
		expect(late.plugin.state.calls).toBe(1);
		late.clock.t += 0.1 * FRESH;
		await late.service.getReport(late.row);
		expect(late.plugin.state.calls).toBe(2);
	});

	it("coalesces concurrent callers into one fetch", async () => {
		const { service, plugin, row, clock } = await setup();
		const gate = deferred<UsageReport | null>();
		plugin.state.answer = () => gate.promise;
		const callers = Array.from({ length: 10 }, () => service.getReport(row));
		await new Promise((resolve) => setTimeout(resolve, 5));
		gate.resolve({ provider: "test", fetchedAt: clock.now(), limits: [limit("primary", 0.3)] });
		const reports = await Promise.all(callers);
		expect(plugin.state.calls).toBe(1);
		expect(new Set(reports).size).toBe(1);
		expect(reports[0]?.limits[0]?.amount.usedFraction).toBe(0.3);
	});

	it("forceRefresh bypasses the fresh cache", async () => {
		const { service, plugin, row } = await setup();
		await service.getReport(row);
		plugin.state.used = 0.7;
		const forced = await service.getReport(row, { forceRefresh: true });
		expect(plugin.state.calls).toBe(2);
		expect(forced?.limits[0]?.amount.usedFraction).toBe(0.7);
	});

	it("returns null without a fetch when the plugin does not support the row", async () => {
		const { service, plugin, store } = await setup();
		plugin.state.supportsApiKeys = false;
		const keyRow = await store.rows.insert("test", { type: "api_key", key: "sk-test" });
		expect(service.supports(keyRow)).toBe(false);
		expect(await service.getReport(keyRow)).toBeNull();
		const other = await store.rows.insert("nobody", { type: "api_key", key: "sk-other" });
		expect(service.supports(other)).toBe(false);
		expect(await service.getReport(other)).toBeNull();
		expect(plugin.state.calls).toBe(0);
	});

	it("peekReport reads memory only", async () => {
		const { service, row, clock } = await setup();
		expect(service.peekReport(row)).toBeNull();
		const report = await service.getReport(row);
		clock.t += FRESH * 2;
		// Stale but within the last-good window: still peeked.
		expect(service.peekReport(row)).toBe(report);
		clock.t += 86_400_000;
		expect(service.peekReport(row)).toBeNull();
	});

	it("invalidate drops the cached report", async () => {
		const { service, plugin, row, store } = await setup();
		const other = await store.rows.insert("test", oauth("other@example.com"));
		await service.getReport(row);
		await service.getReport(row, { baseUrl: "https://x.example" });
		await service.getReport(other);
		await service.invalidate(row);
		expect(service.peekReport(row)).toBeNull();
		expect(service.peekReport(row, "https://x.example")).toBeNull();
		expect(service.peekReport(other)).not.toBeNull();
		await service.getReport(row);
		expect(plugin.state.calls).toBe(4);
		await service.invalidate();
		expect(service.peekReport(other)).toBeNull();
		await service.getReport(other);
		expect(plugin.state.calls).toBe(5);
	});
});

describe("UsageService failures", () => {
	it("serves the last good report during the cool-down and does not fetch", async () => {
		const { service, plugin, row, clock } = await setup({ failureCooldownMs: 10_000 });
		const good = await service.getReport(row);
		clock.t += FRESH + 1;
		plugin.state.answer = async () => null;
		expect(await service.getReport(row)).toEqual(good);
		expect(plugin.state.calls).toBe(2);
		clock.t += 9_000;
		expect(await service.getReport(row)).toEqual(good);
		expect(plugin.state.calls).toBe(2);
		clock.t += 1_001;
		plugin.state.answer = async () => {
			throw new Error("boom");
		};
		expect(await service.getReport(row)).toEqual(good);
		expect(plugin.state.calls).toBe(3);
	});

	it("answers null instead of the last good report when asked not to fall back", async () => {
		const { service, plugin, row, clock } = await setup();
		await service.getReport(row);
		clock.t += FRESH + 1;
		plugin.state.answer = async () => null;
		expect(await service.getReport(row, { lastGoodFallback: false })).toBeNull();
		// Cooling down now: the fallback-free caller still gets null, the others the last good report.
		expect(await service.getReport(row, { lastGoodFallback: false })).toBeNull();
		expect(await service.getReport(row)).not.toBeNull();
		expect(plugin.state.calls).toBe(2);
	});

	it("returns null when nothing good was ever fetched", async () => {
		const { service, plugin, row } = await setup();
		plugin.state.answer = async () => null;
		expect(await service.getReport(row)).toBeNull();
	});

	it("forgets a last good report older than lastGoodMs", async () => {
		const { service, plugin, row, clock } = await setup({ lastGoodMs: 2 * HOUR });
		await service.getReport(row);
		clock.t += 2 * HOUR + 1;
		plugin.state.answer = async () => null;
		expect(await service.getReport(row)).toBeNull();
	});

	it("bounds a fetch by requestTimeoutMs and falls back", async () => {
		const { service, plugin, row, clock } = await setup({ requestTimeoutMs: 20 });
		const good = await service.getReport(row);
		clock.t += FRESH + 1;
		let sawAbort = false;
		plugin.state.answer = (params) =>
			new Promise((resolve) => {
				params.signal?.addEventListener("abort", () => {
					sawAbort = true;
					resolve(null);
				});
			});
		expect(await service.getReport(row)).toEqual(good);
		expect(sawAbort).toBe(true);
	});
});

describe("UsageService shared cache (L2)", () => {
	it("a second service on the same store reads the report without fetching", async () => {
		const { make, plugin, row } = await setup();
		const first = make();
		const report = await first.getReport(row);
		const second = make();
		const shared = await second.getReport(row);
		expect(plugin.state.calls).toBe(1);
		expect(shared?.limits).toEqual(report?.limits);
		// `raw` stays in the process that fetched it.
		expect(shared?.raw).toBeUndefined();
	});

	it("two stores on one backend share the report and the last good value", async () => {
		const backend = createMemoryStoreBackend();
		const a = await setup({ backend });
		const good = await a.service.getReport(a.row);
		const b = await setup({ backend });
		b.clock.t = a.clock.t;
		expect(await b.service.getReport(a.row)).toEqual({ ...good, raw: undefined });
		expect(b.plugin.state.calls).toBe(0);
		b.clock.t += FRESH * 2;
		b.plugin.state.answer = async () => null;
		const fallback = await b.service.getReport(a.row);
		expect(b.plugin.state.calls).toBe(1);
		expect(fallback?.limits).toEqual(good?.limits);
	});
});

describe("UsageService abort", () => {
	it("an aborted caller rejects alone; the shared fetch serves the others", async () => {
		const { service, plugin, row, clock } = await setup();
		const gate = deferred<UsageReport | null>();
		plugin.state.answer = () => gate.promise;
		const controller = new AbortController();
		const aborted = service.getReport(row, { signal: controller.signal });
		const patient = service.getReport(row);
		await new Promise((resolve) => setTimeout(resolve, 5));
		controller.abort();
		await expect(aborted).rejects.toMatchObject({ code: "ABORTED" });
		gate.resolve({ provider: "test", fetchedAt: clock.now(), limits: [limit("primary", 0.4)] });
		expect((await patient)?.limits[0]?.amount.usedFraction).toBe(0.4);
		expect(plugin.state.calls).toBe(1);
	});

	it("rejects at once with an already-aborted signal", async () => {
		const { service, plugin, row } = await setup();
		const controller = new AbortController();
		controller.abort();
		const error = await service.getReport(row, { signal: controller.signal }).catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error)).toBe(true);
		expect(plugin.state.calls).toBe(0);
	});
});

describe("UsageService.getReportsForRanking", () => {
	it("does not wait for a slow provider past its request bound", async () => {
		const { service, plugin, row, store, clock } = await setup({ requestTimeoutMs: 100 });
		const slowRow = await store.rows.insert("test", oauth("slow@example.com"));
		const slow = deferred<UsageReport | null>();
		let slowFinished = false;
		plugin.state.answer = async (params) => {
			if (params.credential.email === "slow@example.com") {
				// Ignores its abort signal, like a misbehaving plugin.
				const report = await slow.promise;
				slowFinished = true;
				return report;
			}
			return { provider: "test", fetchedAt: clock.now(), limits: [limit("primary", 0.2)] };
		};
		const result = await service.getReportsForRanking([row, slowRow]);
		expect(slowFinished).toBe(false);
		expect(result.get(row.id)?.limits[0]?.amount.usedFraction).toBe(0.2);
		expect(result.get(slowRow.id)).toBeNull();
		expect([...result.keys()]).toEqual([row.id, slowRow.id]);
		slow.resolve(null);
	});

	it("gives up after rankingWaitMs and maps unfinished rows to their peeked value", async () => {
		let hang = false;
		const { service, row, clock } = await setup({
			// A hanging shared cache: only the overall ranking bound can end the wait.
			wrapStore: (store) => ({
				...store,
				cache: {
					...store.cache,
					get: (key, options) => (hang ? new Promise<string | null>(() => {}) : store.cache.get(key, options)),
				},
			}),
		});
		const known = await service.getReport(row);
		clock.t += FRESH + 1;
		hang = true;
		vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
		let done = false;
		const pending = service.getReportsForRanking([row]).then((result) => {
			done = true;
			return result;
		});
		expect(service.rankingWaitMs).toBe(15_000);
		await vi.advanceTimersByTimeAsync(service.rankingWaitMs - 1);
		expect(done).toBe(false);
		await vi.advanceTimersByTimeAsync(1);
		const result = await pending;
		expect(result.get(row.id)).toBe(known);
	});
});

describe("UsageService upstream hooks", () => {
	it("uses the store's getUsageReport and treats its null as final", async () => {
		let upstreamCalls = 0;
		let answer: UsageReport | null = null;
		const { service, plugin, row, clock } = await setup({
			wrapStore: (store) => ({
				...store,
				upstream: {
					async getUsageReport() {
						upstreamCalls += 1;
						return answer;
					},
				},
			}),
		});
		expect(await service.getReport(row)).toBeNull();
		expect(plugin.state.calls).toBe(0);
		expect(upstreamCalls).toBe(1);
		answer = { provider: "test", fetchedAt: clock.now(), limits: [limit("primary", 0.9)] };
		expect((await service.getReport(row))?.limits[0]?.amount.usedFraction).toBe(0.9);
		expect(plugin.state.calls).toBe(0);
	});

	it("fetchReports delegates to the store's fetchUsageReports, one call for concurrent callers", async () => {
		const gate = deferred<UsageReport[] | null>();
		let calls = 0;
		const { service, plugin, row } = await setup({
			wrapStore: (store) => ({
				...store,
				upstream: {
					fetchUsageReports() {
						calls += 1;
						return gate.promise;
					},
				},
			}),
		});
		const a = service.fetchReports([row]);
		const b = service.fetchReports([row]);
		gate.resolve([{ provider: "test", fetchedAt: NOW, limits: [] }]);
		expect(await a).toHaveLength(1);
		expect(await b).toHaveLength(1);
		expect(calls).toBe(1);
		expect(plugin.state.calls).toBe(0);
	});
});

describe("UsageService.fetchReports", () => {
	it("returns one report per account across rows", async () => {
		const { service, plugin, store, row, clock } = await setup();
		const sameAccount = await store.rows.insert("test", oauth("a@example.com", { access: "other-access" }));
		const byId1 = await store.rows.insert("test", { type: "api_key", key: "sk-1" });
		const byId2 = await store.rows.insert("test", { type: "api_key", key: "sk-2" });
		const lone = await store.rows.insert("test", oauth("z@example.com"));
		plugin.state.answer = async (params) => {
			if (params.credential.type === "api_key") {
				const first = params.credential.apiKey === "sk-1";
				return {
					provider: "test",
					fetchedAt: clock.now(),
					limits: [first ? limit("primary", 0.1) : limit("tokens", 0.2)],
					metadata: { accountId: "shared-org" },
				};
			}
			return {
				provider: "test",
				fetchedAt: clock.now(),
				limits: [limit("primary", 0.3)],
				metadata: { email: params.credential.email },
			};
		};
		const reports = await service.fetchReports([row, sameAccount, byId1, byId2, lone]);
		expect(reports).toHaveLength(3);
		const org = reports.find((r) => r.metadata?.accountId === "shared-org");
		expect(org?.limits.map((l) => l.id).sort()).toEqual(["primary", "tokens"]);
		expect(reports.filter((r) => r.metadata?.email === "a@example.com")).toHaveLength(1);
		// Rows of one account share the cache key: one fetch for both.
		expect(plugin.state.calls).toBe(4);
	});
});

describe("UsageService.ingestHeaders", () => {
	it("merges header limits by id into the cached report at most once per interval", async () => {
		const { service, plugin, row, clock } = await setup();
		await service.getReport(row);
		const taken = await service.ingestHeaders(row, { "X-Primary-Used": "0.8", "X-Burst-Used": "0.5" });
		expect(taken).toBe(true);
		const merged = await service.getReport(row);
		expect(plugin.state.calls).toBe(1);
		expect(merged?.limits.map((l) => [l.id, l.amount.usedFraction])).toEqual([
			["primary", 0.8],
			["secondary", 0.05],
			["burst", 0.5],
		]);
		clock.t += 59_999;
		expect(await service.ingestHeaders(row, { "x-primary-used": "0.9" })).toBe(false);
		clock.t += 1;
		expect(await service.ingestHeaders(row, { "x-primary-used": "0.9" })).toBe(true);
		expect((await service.getReport(row))?.limits[0]?.amount.usedFraction).toBe(0.9);
	});

	it("keeps scope and window fields a header limit does not carry", async () => {
		const { service, plugin, row } = await setup();
		plugin.state.answer = async (params) => ({
			provider: params.provider,
			fetchedAt: NOW,
			limits: [
				{
					...limit("primary", 0.2),
					scope: { provider: "test", accountId: "acct-1", shared: true },
					window: { id: "5h", label: "5 hours", durationMs: 5 * HOUR, resetsAt: NOW + HOUR },
				},
			],
		});
		await service.getReport(row);
		await service.ingestHeaders(row, { "x-primary-used": "0.7" });
		const [merged] = (await service.getReport(row))?.limits ?? [];
		expect(merged?.amount.usedFraction).toBe(0.7);
		expect(merged?.scope).toEqual({ provider: "test", accountId: "acct-1", shared: true });
		expect(merged?.window).toEqual({
			id: "primary",
			label: "primary window",
			durationMs: 5 * HOUR,
			resetsAt: NOW + HOUR,
		});
	});

	it("caches the header report when nothing was cached, and ignores headers without limits", async () => {
		const { service, plugin, row, make } = await setup();
		expect(await service.ingestHeaders(row, { "content-type": "application/json" })).toBe(false);
		expect(await service.ingestHeaders(row, { "X-Burst-Used": "0.25" })).toBe(true);
		const report = await service.getReport(row);
		expect(plugin.state.calls).toBe(0);
		expect(report?.limits.map((l) => l.id)).toEqual(["burst"]);
		expect(report?.metadata?.email).toBe("a@example.com");
		// Written through to the shared cache too.
		expect((await make().getReport(row))?.limits.map((l) => l.id)).toEqual(["burst"]);
	});
});

describe("UsageService history and costs", () => {
	it("records one snapshot per account and limit per hour", async () => {
		let writes = 0;
		const { service, row, clock } = await setup({
			wrapStore: (store) => {
				const ledger = store.ledger;
				if (!ledger) throw new Error("the memory store has a ledger");
				return {
					...store,
					ledger: {
						...ledger,
						recordUsageSnapshots: (entries) => {
							writes += 1;
							return ledger.recordUsageSnapshots(entries);
						},
					},
				};
			},
		});
		await service.getReport(row);
		clock.t += 30 * 60_000;
		await service.getReport(row, { forceRefresh: true });
		expect(writes).toBe(1);
		const history = await service.listHistory();
		expect(history).toHaveLength(2);
		expect(history[0]).toMatchObject({
			recordedAt: NOW,
			provider: "test",
			limitId: "primary",
			label: "primary",
			windowLabel: "primary window",
			usedFraction: 0.1,
			email: "a@example.com",
			resetsAt: NOW + HOUR,
		});
		expect(history[0]?.accountKey).toContain("email:a@example.com");
	});

	it("writes again in the next hour bucket", async () => {
		const { service, plugin, row, clock } = await setup();
		await service.getReport(row);
		clock.t += HOUR;
		plugin.state.used = 0.4;
		await service.getReport(row);
		const history = await service.listHistory({ provider: "test" });
		expect(history.filter((h) => h.limitId === "primary").map((h) => h.usedFraction)).toEqual([0.1, 0.4]);
	});

	it("records costs with the row's account key and rejects bad amounts", async () => {
		const { service, row, plugin } = await setup();
		expect(await service.recordCost(row, 0.25, NOW)).toBe(true);
		expect(await service.recordCost(row, -1)).toBe(false);
		expect(await service.recordCost(row, Number.NaN)).toBe(false);
		const costs = await service.listCosts({ provider: "test" });
		expect(costs).toHaveLength(1);
		expect(costs[0]).toMatchObject({ provider: "test", costUsd: 0.25, recordedAt: NOW });
		// Plugins (cost-derived providers) read the same ledger through their context.
		await service.getReport(row);
		expect(await plugin.state.ctx?.listUsageCosts?.({ provider: "test" })).toEqual(costs);
	});

	it("drops the cached report of a cost-derived provider when a cost is recorded", async () => {
		const { service, plugin, row } = await setup();
		await service.getReport(row);
		await service.recordCost(row, 1);
		await service.getReport(row);
		expect(plugin.state.calls).toBe(1);
		plugin.usage.derivedFromCosts = true;
		await service.recordCost(row, 1);
		await service.getReport(row);
		expect(plugin.state.calls).toBe(2);
	});

	it("reports false and empty lists without a ledger", async () => {
		const { service, row } = await setup({
			wrapStore: (store) => {
				const { ledger: _ledger, ...rest } = store;
				return rest;
			},
		});
		expect(await service.recordCost(row, 1)).toBe(false);
		expect(await service.listHistory()).toEqual([]);
		expect(await service.listCosts()).toEqual([]);
		expect(await service.getReport(row)).not.toBeNull();
	});
});

describe("UsageService options", () => {
	it("derives rankingWaitMs and rejects invalid options", async () => {
		const { make } = await setup();
		expect(make({ requestTimeoutMs: 100 }).rankingWaitMs).toBe(5_000);
		expect(make({ requestTimeoutMs: 20_000 }).rankingWaitMs).toBe(30_000);
		expect(() => make({ freshMs: -1 })).toThrow(/freshMs/);
	});
});
