/**
 * Redis away, slow, or back: the layer serves from the wrapped store within its deadline, warns once,
 * and resynchronises. Leases stay exclusive when only one instance sees Redis.
 */
import { createMemoryStore, createMemoryStoreBackend, type Logger, type MemoryStoreBackend } from "@authpool/core";
import {
	dropPrefix,
	freePort,
	randomPrefix,
	startThrowawayRedis,
	type ThrowawayRedis,
	testRedisUrl,
} from "@authpool/test-services";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisCachedStore, withRedisCache } from "./index";

const TIMEOUT_MS = 250;
const BLOCK = { providerKey: "fleet-keys:api_key", scope: "" };

function recordingLogger(): Logger & { warnings: string[]; infos: string[] } {
	const warnings: string[] = [];
	const infos: string[] = [];
	return {
		warnings,
		infos,
		debug() {},
		info: (message) => infos.push(message),
		warn: (message) => warnings.push(message),
		error: (message) => warnings.push(message),
	};
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await condition())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
}

function open(backend: MemoryStoreBackend, url: string, prefix: string, logger?: Logger): RedisCachedStore {
	return withRedisCache(
		createMemoryStore({ backend }),
		{ url },
		{ prefix, timeoutMs: TIMEOUT_MS, retryAfterMs: 200, logger },
	);
}

describe("redis unreachable from the start", () => {
	it("every part is served by the wrapped store, within the deadline, with one warning", async () => {
		const logger = recordingLogger();
		const url = `redis://127.0.0.1:${await freePort()}`;
		const store = open(createMemoryStoreBackend(), url, randomPrefix("down"), logger);
		try {
			const started = performance.now();
			const row = await store.rows.insert("fleet-keys", { type: "api_key", key: "test-key-1" });
			await store.cache.set("pin:s1", String(row.id), Date.now() + 60_000);
			expect(await store.cache.get("pin:s1")).toBe(String(row.id));
			const block = await store.blocks.upsert({ ...BLOCK, credentialId: row.id, blockedUntil: Date.now() + 60_000 });
			expect(await store.blocks.list()).toEqual([block]);
			const lease = await store.leases!.acquire(row.id, "owner-a", 10_000);
			expect(lease.acquired).toBe(true);
			expect(await store.leases!.get(row.id)).toEqual(lease.lease);
			expect((await store.leases!.acquire(row.id, "owner-b", 10_000)).acquired).toBe(false);
			expect(await store.leases!.release(row.id, "owner-a")).toBe(true);
			const revision = await store.changes.revision();
			await store.rows.disable(row.id, "gone");
			expect(await store.changes.revision()).not.toBe(revision);
			const elapsed = performance.now() - started;
			console.log(`redis down: 12 operations in ${Math.round(elapsed)} ms (deadline ${TIMEOUT_MS} ms per command)`);
			// Each command waits at most the deadline, and after the first failure Redis is skipped.
			expect(elapsed).toBeLessThan(TIMEOUT_MS * 12);
			expect(store.redis.available()).toBe(false);
			expect(logger.warnings).toEqual(["redis unavailable: serving from the wrapped store"]);
		} finally {
			await store.close();
		}
	});
});

describe("a private redis-server that stalls, dies and comes back", () => {
	let redis: ThrowawayRedis;

	beforeAll(async () => {
		redis = await startThrowawayRedis();
	}, 20_000);

	afterAll(async () => {
		await redis?.kill();
	});

	it("a stalled Redis (CLIENT PAUSE): commands give up after the deadline and the wrapped store answers", async () => {
		const logger = recordingLogger();
		const backend = createMemoryStoreBackend();
		const store = open(backend, redis.url, randomPrefix("pause"), logger);
		const admin = new Redis(redis.url);
		try {
			const row = await store.rows.insert("fleet-keys", { type: "api_key", key: "test-key-1" });
			const block = await store.blocks.upsert({ ...BLOCK, credentialId: row.id, blockedUntil: Date.now() + 60_000 });
			await store.leases!.acquire(row.id, "owner-a", 10_000);
			expect(store.redis.available()).toBe(true);
			await admin.call("CLIENT", "PAUSE", "1500", "ALL");
			const timings: number[] = [];
			const timed = async <T>(run: () => Promise<T>): Promise<T> => {
				const started = performance.now();
				const value = await run();
				timings.push(performance.now() - started);
				return value;
			};
			expect(await timed(() => store.blocks.list())).toEqual([block]);
			expect((await timed(() => store.leases!.get(row.id)))?.owner).toBe("owner-a");
			expect((await timed(() => store.leases!.acquire(row.id, "owner-b", 10_000))).acquired).toBe(false);
			console.log(`redis stalled: answers after ${timings.map((ms) => Math.round(ms)).join(", ")} ms`);
			// The first command waits out the deadline; later ones skip Redis at once.
			expect(Math.max(...timings)).toBeLessThan(TIMEOUT_MS * 4);
			expect(logger.warnings).toHaveLength(1);
			await waitFor("redis answering again", async () => {
				await store.cache.get("probe");
				return store.redis.available();
			});
			expect(logger.infos).toContain("redis reachable again: resynchronising");
		} finally {
			admin.disconnect();
			await store.close();
		}
	});

	it("killed and restarted empty: blocks written meanwhile reach the mirror, peers reload, leases stay exclusive", async () => {
		const backend = createMemoryStoreBackend();
		const prefix = randomPrefix("restart");
		const a = open(backend, redis.url, prefix);
		const b = open(backend, redis.url, prefix);
		try {
			const [row1, row2] = [
				await a.rows.insert("fleet-keys", { type: "api_key", key: "test-key-1" }),
				await a.rows.insert("fleet-keys", { type: "api_key", key: "test-key-2" }),
			];
			const before = await a.blocks.upsert({ ...BLOCK, credentialId: row1.id, blockedUntil: Date.now() + 60_000 });
			expect(await b.blocks.list()).toEqual([before]);
			const lease = await a.leases!.acquire(row1.id, "owner-a", 30_000);
			expect(lease.acquired).toBe(true);

			await redis.kill();
			const during = await a.blocks.upsert({ ...BLOCK, credentialId: row2.id, blockedUntil: Date.now() + 60_000 });
			await a.cache.set("pin:s1", "1", Date.now() + 60_000);
			expect(await a.cache.get("pin:s1")).toBe("1");
			// Served from the wrapped store while Redis is away.
			expect(await b.blocks.list()).toEqual([before, during]);
			expect((await b.leases!.acquire(row1.id, "owner-b", 30_000)).acquired).toBe(false);
			const revisionOfB = await b.changes.revision();

			await redis.start();
			await waitFor("both instances back on Redis", async () => {
				await a.cache.get("probe");
				await b.cache.get("probe");
				return a.redis.available() && b.redis.available();
			});
			const admin = new Redis(redis.url);
			try {
				await waitFor("the mirror rebuilt", async () => Object.keys(await admin.hgetall(`${prefix}b`)).length === 2);
			} finally {
				admin.disconnect();
			}
			expect(await b.blocks.list()).toEqual([before, during]);
			expect(await a.blocks.list()).toEqual([before, during]);
			// Peers may have missed notices while away: the revision moved.
			expect(await b.changes.revision()).not.toBe(revisionOfB);
			// The restarted Redis lost the lease keys; the durable lease still refuses a second holder.
			const refused = await b.leases!.acquire(row1.id, "owner-b", 30_000);
			expect(refused).toMatchObject({ acquired: false, lease: { owner: "owner-a" } });
			expect(await a.leases!.renew(row1.id, "owner-a", 30_000)).toBe(true);
			expect(await a.leases!.release(row1.id, "owner-a")).toBe(true);
			expect((await b.leases!.acquire(row1.id, "owner-b", 30_000)).acquired).toBe(true);
		} finally {
			await a.close();
			await b.close();
			await dropPrefix(redis.url, prefix).catch(() => undefined);
		}
	}, 30_000);
});

describe("split view: one instance sees Redis, the other does not", () => {
	it("the durable lease keeps exactly one holder either way round", async () => {
		const backend = createMemoryStoreBackend();
		const prefix = randomPrefix("split");
		const url = testRedisUrl();
		const seeing = open(backend, url, prefix);
		const blind = open(backend, `redis://127.0.0.1:${await freePort()}`, prefix);
		try {
			const row = await seeing.rows.insert("fleet", { type: "api_key", key: "test-key-1" });
			for (let round = 0; round < 20; round++) {
				const [viaRedis, viaDurable] = await Promise.all([
					seeing.leases!.acquire(row.id, "seeing", 10_000),
					blind.leases!.acquire(row.id, "blind", 10_000),
				]);
				expect([viaRedis.acquired, viaDurable.acquired].filter(Boolean)).toHaveLength(1);
				const winner = viaRedis.acquired ? seeing : blind;
				const loser = viaRedis.acquired ? blind : seeing;
				const winnerName = viaRedis.acquired ? "seeing" : "blind";
				const loserName = viaRedis.acquired ? "blind" : "seeing";
				// The loser is refused on every later try and fenced on renew; the holder renews.
				expect((await loser.leases!.acquire(row.id, loserName, 10_000)).acquired).toBe(false);
				expect(await loser.leases!.renew(row.id, loserName, 10_000)).toBe(false);
				expect(await winner.leases!.renew(row.id, winnerName, 10_000)).toBe(true);
				expect((await seeing.leases!.get(row.id))?.owner).toBe(winnerName);
				expect(await winner.leases!.release(row.id, winnerName)).toBe(true);
			}
		} finally {
			await seeing.close();
			await blind.close();
			await dropPrefix(url, prefix);
		}
	});
});

describe("a writer cut off from Redis while its peer is not", () => {
	it("its block reaches the peer's mirror view, and the peer's revision moves, once it reconnects", async () => {
		const backend = createMemoryStoreBackend();
		const prefix = randomPrefix("cutoff");
		const url = testRedisUrl();
		const client = new Redis(url);
		const writer = withRedisCache(
			createMemoryStore({ backend }),
			{ client },
			{ prefix, timeoutMs: TIMEOUT_MS, retryAfterMs: 100 },
		);
		const peer = open(backend, url, prefix);
		try {
			const row = await writer.rows.insert("fleet-keys", { type: "api_key", key: "test-key-1" });
			await waitFor("both on Redis", async () => {
				await writer.blocks.list();
				await peer.blocks.list();
				return writer.redis.available() && peer.redis.available();
			});
			client.disconnect();
			const block = await writer.blocks.upsert({ ...BLOCK, credentialId: row.id, blockedUntil: Date.now() + 60_000 });
			expect(writer.redis.available()).toBe(false);
			// The documented lag of a split view: the peer reads the mirror, which the writer could not reach.
			expect(await peer.blocks.list()).toEqual([]);
			const revision = await peer.changes.revision();
			await client.connect();
			await waitFor(
				"the peer's revision moving after the writer resynced",
				async () => (await peer.changes.revision()) !== revision,
			);
			expect(await peer.blocks.list()).toEqual([block]);
		} finally {
			await writer.close();
			await peer.close();
			client.disconnect();
			await dropPrefix(url, prefix);
		}
	});
});
