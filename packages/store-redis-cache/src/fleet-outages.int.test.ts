/**
 * Three processes under traffic while Redis is SIGKILLed and restarted empty, then while every
 * Postgres backend of the fleet is terminated: they keep serving (or fail with a typed error), recover
 * on their own, and no row, rotation or block is lost.
 */

import { adminQuery, startThrowawayRedis, type ThrowawayRedis } from "@authpool/test-services";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_PROVIDER, OAUTH_PROVIDER } from "../test/fleet-plugin";
import { type Fleet, startFleet, waitUntil } from "../test/fleet-setup";
import type { TrafficReport } from "../test/fleet-worker";
import type { FleetWorker } from "../test/spawn-fleet";

const TRAFFIC_MS = 9_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a fleet through a Redis restart and terminated Postgres backends", () => {
	let redis: ThrowawayRedis;
	let fleet: Fleet;
	let workers: FleetWorker[];

	beforeAll(async () => {
		redis = await startThrowawayRedis();
		fleet = await startFleet(redis.url, { leaseTtlMs: 2_000, refreshTimeoutMs: 1_500, refreshSkewMs: 1_000 });
		workers = ["instance-a", "instance-b", "instance-c"].map((name) => fleet.spawn(name));
		await Promise.all(workers.map((worker) => worker.ready));
	}, 60_000);

	afterAll(async () => {
		await fleet?.close();
		await redis?.kill();
	});

	it("keeps serving, recovers, loses nothing", async () => {
		const [a, b] = workers as [FleetWorker, FleetWorker, FleetWorker];
		// Access tokens live 2.5 s and are refreshed 1 s early: a rotation every ~1.5 s during the run.
		const account = fleet.fake.addAccount(OAUTH_PROVIDER, { accessTokenTtlMs: 2_500 });
		const row = await fleet.store.rows.insert(OAUTH_PROVIDER, account.credential);
		await a.send({ type: "set-keys", keys: ["test-key-1", "test-key-2", "test-key-3"] });
		await Promise.all(
			workers.map((worker) => worker.send({ type: "watch-rows", provider: KEY_PROVIDER, count: 3, timeoutMs: 10_000 })),
		);

		const traffic = workers.map((worker) =>
			worker.send<TrafficReport & { warnings: number }>({ type: "traffic", callers: 6, durationMs: TRAFFIC_MS }),
		);
		await sleep(1_200);
		await redis.kill();
		await sleep(300);
		// A block written while Redis is away goes to Postgres and must survive into the rebuilt mirror.
		const duringRedisOutage = await a.send<{ key: string }>({ type: "block", session: "outage-redis" });
		await sleep(1_000);
		await redis.start();
		await sleep(1_500);
		const terminated = await adminQuery<{ pg_terminate_backend: boolean }>(
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
			[fleet.applicationName],
		);
		// A block written right after the backends died. A write whose connection died at COMMIT is not
		// retried by the store (it may have applied): it fails fast with a typed error, and the caller retries.
		let failedFast = 0;
		const blockOnB = async (): Promise<{ key: string }> => {
			try {
				return await b.send<{ key: string }>({ type: "block", session: "outage-pg" });
			} catch (error) {
				expect(String(error)).toMatch(/: STORE_ERROR$/);
				failedFast++;
				return blockOnB();
			}
		};
		const duringPgOutage = await blockOnB();
		expect(failedFast).toBeLessThanOrEqual(3);
		const reports = await Promise.all(traffic);

		const tailBuckets = 6; // the last 1.5 s
		for (const [index, report] of reports.entries()) {
			console.log(
				`fleet outages, ${workers[index]!.name}: ${report.served}/${report.calls} served, no key ${report.noKey}, ` +
					`errors ${JSON.stringify(report.errors)}, slowest call ${Math.round(report.maxCallMs)} ms, warnings ${report.warnings}`,
			);
			expect(Object.keys(report.errors).filter((code) => code.startsWith("untyped"))).toEqual([]);
			expect(report.served).toBeGreaterThan(report.calls * 0.9);
			// Serving resumed on its own: every one of the last buckets served calls.
			const tail = report.servedBuckets.slice(-tailBuckets);
			expect(
				tail.every((served) => served > 0),
				JSON.stringify(report.servedBuckets),
			).toBe(true);
		}
		console.log(
			`fleet outages: ${terminated.length} Postgres backends terminated; ${fleet.fake.refreshCount(account.id)} rotations; ` +
				`block write failed fast ${failedFast}×`,
		);
		expect(terminated.length).toBeGreaterThan(3);

		// Rotations: every one answered (no invalid_grant), the row holds the latest.
		const tokenAnswers = fleet.fake.requests.filter((request) => request.endpoint === "token");
		expect(tokenAnswers.filter((request) => request.status !== 200)).toEqual([]);
		expect(fleet.fake.refreshCount(account.id)).toBeGreaterThanOrEqual(3);
		await waitUntil(
			"the parent store reachable",
			async () => (await fleet.store.rows.get(row.id).catch(() => null)) !== null,
		);
		const stored = await fleet.store.rows.get(row.id);
		expect(stored?.disabledCause).toBeNull();
		expect(stored?.credential).toMatchObject({ refresh: account.refreshToken });
		expect(stored?.version).toBe(1 + fleet.fake.refreshCount(account.id));
		expect(await fleet.store.rows.listDisabled(OAUTH_PROVIDER)).toEqual([]);

		// Blocks: both in Postgres, both in the rebuilt Redis mirror.
		const keyRows = await fleet.store.rows.listActive(KEY_PROVIDER);
		const idOf = (key: string) =>
			keyRows.find((candidate) => candidate.credential.type === "api_key" && candidate.credential.key === key)!.id;
		const blockedIds = [idOf(duringRedisOutage.key), idOf(duringPgOutage.key)];
		const durable = await fleet.store.redis.inner.blocks.list();
		for (const id of blockedIds) expect(durable.map((block) => block.credentialId)).toContain(id);
		const admin = new Redis(redis.url);
		try {
			await waitUntil("the block mirror rebuilt", async () => {
				const mirrored = Object.values(await admin.hgetall(`${fleet.prefix}b`)).map(
					(raw) => (JSON.parse(raw) as { credentialId: number }).credentialId,
				);
				return blockedIds.every((id) => mirrored.includes(id));
			});
		} finally {
			admin.disconnect();
		}
		await fleet.store.redis.resync();
		const listed = await fleet.store.blocks.list();
		for (const id of blockedIds) expect(listed.map((block) => block.credentialId)).toContain(id);
	}, 60_000);
});
