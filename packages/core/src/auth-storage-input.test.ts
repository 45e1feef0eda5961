/**
 * Robustness of the public `AuthStorage` surface: typed rejection of bad arguments, null-prototype
 * results, hostile loggers and listeners, generation on block changes, model-scoped API-key blocks,
 * bounded plugin calls and single-snapshot credentials.
 */
import { describe, expect, it } from "vitest";
import { AuthStorage } from "./auth-storage";
import { countingStore, fakeOAuthPlugin, HOUR, manualClock, oauth } from "./auth-storage.test-utils";
import { AuthpoolError } from "./errors";
import type { ProviderPlugin } from "./plugin";
import { createMemoryStore, createMemoryStoreBackend } from "./store/memory-store";
import type { Logger } from "./types";
import type { CredentialRankingStrategy } from "./usage/types";
import { MAX_SESSION_ID_LENGTH, PROVIDER_ID_PATTERN } from "./util/input";

// Models named "spark-*" draw from their own block bucket.
const sparkScope: CredentialRankingStrategy = {
	windowDefaults: { primaryMs: 5 * HOUR, secondaryMs: 7 * 24 * HOUR },
	findWindowLimits: () => ({}),
	blockScope: (ctx) => (ctx?.modelId?.startsWith("spark") ? "spark" : undefined),
};

function setup(options: { logger?: Logger; pluginTimeoutMs?: number; plugins?: ProviderPlugin[] } = {}) {
	const clock = manualClock();
	const plugin = fakeOAuthPlugin("acme", clock, { ranking: sparkScope });
	const backend = createMemoryStoreBackend();
	const counted = countingStore(createMemoryStore({ clock, backend }));
	const make = () =>
		new AuthStorage(createMemoryStore({ clock, backend }), {
			providers: [plugin, ...(options.plugins ?? [])],
			clock,
			env: {},
			...(options.logger ? { logger: options.logger } : {}),
			...(options.pluginTimeoutMs ? { pluginTimeoutMs: options.pluginTimeoutMs } : {}),
		});
	const storage = new AuthStorage(counted.store, {
		providers: [plugin, ...(options.plugins ?? [])],
		clock,
		env: {},
		...(options.logger ? { logger: options.logger } : {}),
		...(options.pluginTimeoutMs ? { pluginTimeoutMs: options.pluginTimeoutMs } : {}),
	});
	return { clock, plugin, store: counted.store, counted, storage, make };
}

function invalid(error: unknown, argument: string): void {
	expect(AuthpoolError.isInstance(error)).toBe(true);
	expect((error as AuthpoolError).code).toBe("INVALID_INPUT");
	expect((error as AuthpoolError).message).toContain(argument);
}

function thrown(run: () => unknown): unknown {
	try {
		run();
	} catch (error) {
		return error;
	}
	throw new Error("expected a synchronous throw");
}

async function rejected(run: () => Promise<unknown>): Promise<unknown> {
	let promise: Promise<unknown>;
	// Promise-returning methods must reject, not throw before handing out a promise.
	expect(() => {
		promise = run();
	}).not.toThrow();
	try {
		await promise!;
	} catch (error) {
		return error;
	}
	throw new Error("expected a rejection");
}

const BAD_PROVIDERS: unknown[] = [null, undefined, 42, "", "Acme", "a b", "x".repeat(65), "__proto__", {}];

describe("argument validation", () => {
	it("provider ids: every built-in plugin id fits the documented pattern", () => {
		for (const id of [
			"anthropic",
			"openai-codex",
			"google-gemini-cli",
			"google-antigravity",
			"github-copilot",
			"ollama-cloud",
			"kimi-code",
		]) {
			expect(PROVIDER_ID_PATTERN.test(id), id).toBe(true);
		}
		expect(PROVIDER_ID_PATTERN.test("__proto__")).toBe(false);
	});

	it("synchronous methods throw INVALID_INPUT synchronously for a bad provider", () => {
		const { storage } = setup();
		const sync: Array<(p: never) => unknown> = [
			(p) => storage.get(p),
			(p) => storage.has(p),
			(p) => storage.hasAuth(p),
			(p) => storage.hasNonEnvCredential(p),
			(p) => storage.hasOAuth(p),
			(p) => storage.getCredentialOrigin(p),
			(p) => storage.describeCredentialSource(p),
			(p) => storage.listOAuthAccounts(p),
			(p) => storage.removeRuntimeApiKey(p),
			(p) => storage.removeConfigApiKey(p),
			(p) => storage.setRuntimeApiKey(p, "test-key-1"),
			(p) => storage.setConfigApiKey(p, "test-key-1"),
			(p) => storage.resolver(p),
		];
		for (const bad of BAD_PROVIDERS) {
			for (const call of sync) {
				// listStoredCredentials(undefined) means "all providers"; everything else needs a provider.
				invalid(
					thrown(() => call(bad as never)),
					"provider",
				);
			}
		}
		invalid(
			thrown(() => storage.listStoredCredentials(null as never)),
			"provider",
		);
		expect(storage.listStoredCredentials()).toEqual([]);
	});

	it("promise-returning methods reject (never throw) with INVALID_INPUT for a bad provider", async () => {
		const { storage } = setup();
		const calls: Array<(p: never) => Promise<unknown>> = [
			(p) => storage.getApiKey(p),
			(p) => storage.peekApiKey(p),
			(p) => storage.getOAuthAccess(p),
			(p) => storage.getOAuthAccesses(p),
			(p) => storage.getOAuthAccessAt(p, 0),
			(p) => storage.set(p, { type: "api_key", key: "test-key-1" }),
			(p) => storage.remove(p),
			(p) => storage.removeCredential(p, 1),
			(p) => storage.login(p, {} as never),
			(p) => storage.logout(p),
			(p) => storage.markUsageLimitReached(p, undefined),
			(p) => storage.rotateSessionCredential(p, undefined),
			(p) => storage.invalidateCredentialMatching(p, "test-key-1"),
			(p) => storage.ingestUsageHeaders(p, {}),
			(p) => storage.recordUsageCost(p, 1),
			(p) => storage.upsertCredential(p, { type: "api_key", key: "test-key-1" }),
		];
		for (const bad of [null, 42, "Not A Provider", "__proto__"]) {
			for (const call of calls) invalid(await rejected(() => call(bad as never)), "provider");
		}
	});

	it("session ids: wrong type or over 1 KiB is rejected, named but not echoed, and never persisted", async () => {
		const { storage, counted } = setup();
		await storage.set("acme", [
			{ type: "api_key", key: "test-key-1" },
			{ type: "api_key", key: "test-key-2" },
		]);
		counted.reset();
		const huge = `session-${"x".repeat(1024 * 1024)}`;
		for (const session of [huge, 42, null, "", "y".repeat(MAX_SESSION_ID_LENGTH + 1)]) {
			const error = await rejected(() => storage.getApiKey("acme", session as never));
			invalid(error, "sessionId");
			expect((error as Error).message).not.toContain("xxxxxxxx");
			invalid(await rejected(() => storage.markUsageLimitReached("acme", session as never)), "sessionId");
			invalid(await rejected(() => storage.rotateSessionCredential("acme", session as never)), "sessionId");
			invalid(
				thrown(() => storage.describeCredentialSource("acme", session as never)),
				"sessionId",
			);
		}
		expect(counted.writes()).toBe(0);
		expect(await storage.getApiKey("acme", "y".repeat(MAX_SESSION_ID_LENGTH))).toMatch(/^test-key-/);
	});

	it("options, model ids and other arguments of the wrong type are INVALID_INPUT", async () => {
		const { storage } = setup();
		invalid(await rejected(() => storage.getApiKey("acme", "s", "fast" as never)), "options");
		invalid(await rejected(() => storage.getApiKey("acme", "s", { modelId: 7 } as never)), "options");
		invalid(await rejected(() => storage.getApiKey("acme", "s", { signal: "stop" } as never)), "options");
		invalid(await rejected(() => storage.markUsageLimitReached("acme", "s", { modelId: {} } as never)), "options");
		invalid(await rejected(() => storage.rotateSessionCredential("acme", "s", null as never)), "options");
		invalid(await rejected(() => storage.invalidateCredentialMatching("acme", null as never)), "apiKey");
		invalid(await rejected(() => storage.getOAuthAccessAt("acme", -1)), "position");
		invalid(await rejected(() => storage.removeCredential("acme", "1" as never)), "credentialId");
		invalid(await rejected(() => storage.refreshCredentialById(Number.NaN)), "id");
		invalid(await rejected(() => storage.disableCredentialById(1, 5 as never)), "cause");
		invalid(await rejected(() => storage.recordUsageCost("acme", Number.POSITIVE_INFINITY)), "costUsd");
		invalid(await rejected(() => storage.ingestUsageHeaders("acme", null as never)), "headers");
		invalid(await rejected(() => storage.fetchUsageReports("all" as never)), "options");
		invalid(await rejected(() => storage.listUsageHistory(5 as never)), "query");
		invalid(await rejected(() => storage.checkCredentials({ timeoutMs: -5 })), "options");
		invalid(await rejected(() => storage.listResetCredits({ provider: "Bad!" })), "options");
		invalid(await rejected(() => storage.redeemResetCredit(undefined as never)), "options");
		invalid(await rejected(() => storage.login("acme", null as never)), "callbacks");
		invalid(
			thrown(() => storage.onGenerationChanged(null as never)),
			"listener",
		);
		invalid(
			thrown(() => storage.onCredentialDisabled("x" as never)),
			"listener",
		);
		invalid(
			thrown(() => storage.setFallbackResolver("x" as never)),
			"resolver",
		);
		invalid(
			thrown(() => storage.setRuntimeApiKey("acme", null as never)),
			"apiKey",
		);
	});

	it("credentials: null, wrong-typed or partial ones are rejected without echoing secrets, and nothing is written", async () => {
		const { storage, store } = setup();
		const bad: unknown[] = [
			null,
			"test-key-1",
			42,
			{ type: "api_key" },
			{ type: "api_key", key: 7 },
			{ type: "oauth", access: "test-access-secret", refresh: 5, expires: 1 },
			{ type: "password", key: "test-key-1" },
		];
		for (const credential of bad) {
			const error = await rejected(() => storage.set("acme", credential as never));
			invalid(error, "credential");
			expect((error as Error).message).not.toContain("test-access-secret");
			invalid(await rejected(() => storage.upsertCredential("acme", credential as never)), "credential");
		}
		const mixed = await rejected(() =>
			storage.set("acme", [{ type: "api_key", key: "test-key-1" }, { type: "api_key" }] as never),
		);
		invalid(mixed, "credential[1]");
		expect(await store.rows.listActive()).toEqual([]);
	});
});

describe("provider-keyed results", () => {
	it("getAll is a null-prototype object: a `__proto__` provider stays a plain key", async () => {
		const { storage, store } = setup();
		// The store accepts any non-empty provider (a peer or an old version may have written one).
		await store.rows.insert("__proto__", { type: "api_key", key: "test-key-proto" });
		await store.rows.insert("acme", { type: "api_key", key: "test-key-1" });
		await storage.reload();
		const all = storage.getAll();
		expect(Object.getPrototypeOf(all)).toBeNull();
		expect(Object.keys(all).sort()).toEqual(["__proto__", "acme"]);
		expect(Object.getOwnPropertyDescriptor(all, "__proto__")?.value).toEqual({
			type: "api_key",
			key: "test-key-proto",
		});
		expect((all as Record<string, unknown>).key).toBeUndefined();
		expect(({} as Record<string, unknown>).key).toBeUndefined();
	});
});

describe("hostile logger and listeners", () => {
	it("a throwing logger and throwing/rejecting listeners never fail a committed call", async () => {
		let logCalls = 0;
		const boom = () => {
			logCalls += 1;
			throw new Error("log sink down");
		};
		const { storage, store } = setup({ logger: { debug: boom, info: boom, warn: boom, error: boom } });
		storage.onGenerationChanged(() => {
			throw new Error("listener down");
		});
		storage.onGenerationChanged(async () => {
			throw new Error("async listener down");
		});
		storage.onCredentialDisabled(() => {
			throw new Error("disabled listener down");
		});
		storage.onCredentialDisabled(async () => {
			throw new Error("async disabled listener down");
		});
		const generation = storage.getGeneration();
		await expect(
			storage.set("acme", [
				{ type: "api_key", key: "test-key-1" },
				{ type: "api_key", key: "test-key-2" },
			]),
		).resolves.toBeUndefined();
		expect(storage.getGeneration()).toBeGreaterThan(generation);
		expect(logCalls).toBeGreaterThan(0);
		expect((await store.rows.listActive()).map((row) => row.credential)).toHaveLength(2);
		expect(await storage.getApiKey("acme", "s")).toMatch(/^test-key-/);
		await expect(storage.markUsageLimitReached("acme", "s")).resolves.toMatchObject({ switched: true });
		await expect(storage.upsertCredential("acme", oauth("a@x.io", Date.now()))).resolves.toHaveLength(3);
		const [first] = await store.rows.listActive();
		await expect(storage.disableCredentialById(first!.id, "test cause")).resolves.toBe(true);
		expect((await store.rows.listActive()).map((row) => row.id)).not.toContain(first!.id);
	});
});

describe("generation follows block changes", () => {
	it("moves when a block is set, noticed expired, lifted, and learned from a peer", async () => {
		const { storage, clock, make, plugin } = setup();
		await storage.set("acme", [
			{ type: "api_key", key: "test-key-1" },
			{ type: "api_key", key: "test-key-2" },
		]);
		const seen: number[] = [];
		storage.onGenerationChanged((generation) => seen.push(generation));
		await storage.getApiKey("acme", "s");

		let before = storage.getGeneration();
		await storage.markUsageLimitReached("acme", "s", { retryAfterMs: 60_000 });
		expect(storage.getGeneration()).toBeGreaterThan(before);
		expect(storage.exportSnapshot().generation).toBe(storage.getGeneration());
		expect(seen.at(-1)).toBe(storage.getGeneration());

		before = storage.getGeneration();
		clock.advance(61_000);
		await storage.getApiKey("acme", "s");
		expect(storage.getGeneration()).toBeGreaterThan(before);
		expect(storage.exportSnapshot().credentials.every((entry) => entry.blocks.length === 0)).toBe(true);

		// Lifted: a redeemed reset credit clears the row's blocks.
		plugin.resetCredits = {
			list: async () => ({ availableCount: 1, credits: [{ id: "credit-1", status: "available" }] }),
			redeem: async () => ({ ok: true, code: "reset" }),
		};
		await storage.upsertCredential("acme", oauth("a@x.io", clock.now()));
		const [account] = storage.listOAuthAccounts("acme");
		await storage.getApiKey("acme", "o");
		await storage.markUsageLimitReached("acme", "o", { retryAfterMs: HOUR });
		before = storage.getGeneration();
		const outcome = await storage.redeemResetCredit({
			provider: "acme",
			target: { credentialId: account!.credentialId },
		});
		expect(outcome).toMatchObject({ ok: true });
		expect(storage.getGeneration()).toBeGreaterThan(before);

		// A peer's block reaches this instance through change polling.
		const peer = make();
		await peer.reload();
		await peer.getApiKey("acme", "p");
		await peer.markUsageLimitReached("acme", "p", { retryAfterMs: HOUR });
		before = storage.getGeneration();
		await storage.pollChanges();
		expect(storage.getGeneration()).toBeGreaterThan(before);
	});
});

describe("model-scoped blocks on API-key rows", () => {
	it("a model-scoped usage limit skips the key for that model only", async () => {
		const { storage } = setup();
		await storage.set("acme", [
			{ type: "api_key", key: "test-key-1" },
			{ type: "api_key", key: "test-key-2" },
		]);
		const limited = await storage.getApiKey("acme", "s", { modelId: "spark-1" });
		const result = await storage.markUsageLimitReached("acme", "s", { modelId: "spark-1", retryAfterMs: HOUR });
		expect(result).toEqual({ switched: true });
		const sessions = Array.from({ length: 12 }, (_, i) => `session-${i}`);
		for (const session of sessions) {
			expect(await storage.getApiKey("acme", session, { modelId: "spark-2" })).not.toBe(limited);
		}
		const other = new Set<string | undefined>();
		for (const session of sessions) other.add(await storage.getApiKey("acme", `other-${session}`, { modelId: "gpt" }));
		expect(other.has(limited)).toBe(true);
	});
});

describe("plugin calls are bounded", () => {
	const never = () => new Promise<never>(() => {});

	async function resetSetup(pluginTimeoutMs?: number) {
		const ctx = setup(pluginTimeoutMs ? { pluginTimeoutMs } : {});
		ctx.plugin.resetCredits = { list: never, redeem: never };
		await ctx.storage.upsertCredential("acme", oauth("a@x.io", ctx.clock.now()));
		return ctx;
	}

	it("reset-credit list and redeem reject with ABORTED when the caller aborts", async () => {
		const { storage } = await resetSetup();
		const list = new AbortController();
		const listing = storage.listResetCredits({ provider: "acme", signal: list.signal });
		list.abort();
		await expect(listing).rejects.toMatchObject({ code: "ABORTED" });
		const redeem = new AbortController();
		const redeeming = storage.redeemResetCredit({
			provider: "acme",
			target: { email: "a@x.io" },
			creditId: "credit-1",
			signal: redeem.signal,
		});
		redeem.abort();
		await expect(redeeming).rejects.toMatchObject({ code: "ABORTED" });
	});

	it("reset-credit list and redeem reject with TIMEOUT when the plugin never settles", async () => {
		const { storage } = await resetSetup(20);
		await expect(storage.listResetCredits({ provider: "acme" })).rejects.toMatchObject({ code: "TIMEOUT" });
		await expect(
			storage.redeemResetCredit({ provider: "acme", target: { email: "a@x.io" }, creditId: "credit-1" }),
		).rejects.toMatchObject({ code: "TIMEOUT" });
		await expect(storage.redeemResetCredit({ provider: "acme", target: { email: "a@x.io" } })).rejects.toMatchObject({
			code: "TIMEOUT",
		});
	});

	it("the plugin sees a signal that fires on the caller's abort", async () => {
		const { storage, plugin, clock } = setup();
		let pluginSignal: AbortSignal | undefined;
		plugin.resetCredits = {
			list: (_credential, ctx) => {
				pluginSignal = ctx.signal;
				return never();
			},
			redeem: never,
		};
		await storage.upsertCredential("acme", oauth("a@x.io", clock.now()));
		const controller = new AbortController();
		const listing = storage.listResetCredits({ provider: "acme", signal: controller.signal });
		await expect.poll(() => pluginSignal).toBeDefined();
		expect(pluginSignal!.aborted).toBe(false);
		controller.abort();
		await expect(listing).rejects.toMatchObject({ code: "ABORTED" });
		expect(pluginSignal!.aborted).toBe(true);
	});

	it("a login flow that never settles rejects with ABORTED when the caller aborts", async () => {
		const { storage, plugin, store } = setup();
		plugin.oauth = { ...plugin.oauth!, login: () => never() };
		const controller = new AbortController();
		const logging = storage.login("acme", { signal: controller.signal } as never);
		controller.abort();
		await expect(logging).rejects.toMatchObject({ code: "ABORTED" });
		expect(await store.rows.listActive()).toEqual([]);
	});

	it("a usage fetch that never settles rejects with ABORTED when the caller aborts", async () => {
		const clock = manualClock();
		const plugin = fakeOAuthPlugin("acme", clock, { usage: { fetchUsage: () => new Promise(() => {}) } });
		const storage = new AuthStorage(createMemoryStore({ clock }), { providers: [plugin], clock, env: {} });
		await storage.upsertCredential("acme", oauth("a@x.io", clock.now()));
		const controller = new AbortController();
		const fetching = storage.fetchUsageReports({ signal: controller.signal });
		controller.abort();
		await expect(fetching).rejects.toMatchObject({ code: "ABORTED" });
	});
});

describe("credentials are snapshotted once", () => {
	it("a toJSON that drops or changes fields cannot change what is committed", async () => {
		const { storage, store } = setup();
		const apiKey = {
			type: "api_key",
			key: "test-key-1",
			toJSON: () => ({ type: "api_key", key: "test-key-swapped" }),
		};
		await storage.set("acme", apiKey as never);
		const login = {
			...oauth("a@x.io", 0),
			refresh: "test-refresh-1",
			toJSON() {
				return { type: "oauth", access: "x", expires: 1 };
			},
		};
		await storage.upsertCredential("acme", login as never);
		const stored = (await store.rows.listActive()).map((row) => row.credential);
		expect(stored).toEqual([
			{ type: "api_key", key: "test-key-1" },
			expect.objectContaining({ type: "oauth", refresh: "test-refresh-1", access: "access-a@x.io-0" }),
		]);
		expect(storage.get("acme")).toEqual({ type: "api_key", key: "test-key-1" });
	});

	it("a getter is read once: what was validated is what is stored", async () => {
		const { storage, store } = setup();
		let reads = 0;
		const shifty = {
			type: "api_key",
			get key() {
				reads += 1;
				return reads === 1 ? "test-key-1" : "";
			},
		};
		await storage.set("acme", shifty as never);
		expect(reads).toBe(1);
		expect((await store.rows.listActive())[0]!.credential).toEqual({ type: "api_key", key: "test-key-1" });
	});

	it("a credential whose getter throws is INVALID_INPUT", async () => {
		const { storage } = setup();
		const broken = {
			type: "api_key",
			get key(): string {
				throw new Error("no");
			},
		};
		invalid(await rejected(() => storage.set("acme", broken as never)), "credential");
	});
});
