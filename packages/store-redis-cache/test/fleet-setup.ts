/**
 * Shared setup of the fleet tests: a fake provider, one Postgres schema + Redis prefix, the parent's own
 * store on them, and worker processes.
 */
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { createPostgresStore } from "@authpool/store-postgres";
import { dropPrefix, dropSchema, randomPrefix, randomSchema, testPostgresUrl } from "@authpool/test-services";
import { type RedisCachedStore, withRedisCache } from "../src/index";
import { OAUTH_PROVIDER } from "./fleet-plugin";
import type { FleetWorkerConfig } from "./fleet-worker";
import { type FleetWorker, spawnFleetWorker } from "./spawn-fleet";

export interface Fleet {
	fake: FakeProvider;
	store: RedisCachedStore;
	schema: string;
	prefix: string;
	/** Postgres URL tagged with an application_name unique to this fleet (to terminate only its backends). */
	postgresUrl: string;
	applicationName: string;
	workers: FleetWorker[];
	spawn(name: string, extra?: Partial<FleetWorkerConfig>): FleetWorker;
	close(): Promise<void>;
}

export async function startFleet(redisUrl: string, extra: Partial<FleetWorkerConfig> = {}): Promise<Fleet> {
	const fake = await startFakeProvider();
	const schema = randomSchema("fleet");
	const prefix = randomPrefix("fleet");
	const applicationName = schema;
	const base = new URL(testPostgresUrl());
	base.searchParams.set("application_name", applicationName);
	const postgresUrl = base.toString();
	const store = withRedisCache(
		await createPostgresStore({ connectionString: postgresUrl }, { schema }),
		{ url: redisUrl },
		{ prefix },
	);
	const workers: FleetWorker[] = [];
	const tokenUrl = `${fake.baseUrl(OAUTH_PROVIDER)}/oauth/token`;
	return {
		fake,
		store,
		schema,
		prefix,
		postgresUrl,
		applicationName,
		workers,
		spawn(name, more = {}) {
			const worker = spawnFleetWorker({
				worker: name,
				postgresUrl,
				schema,
				redisUrl,
				prefix,
				tokenUrl,
				...extra,
				...more,
			});
			workers.push(worker);
			return worker;
		},
		async close() {
			await Promise.all(workers.map((worker) => worker.kill()));
			await store.close();
			await fake.close();
			await dropSchema(schema);
			await dropPrefix(redisUrl, prefix).catch(() => undefined);
		},
	};
}

/** p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	if (sorted.length === 0) return Number.NaN;
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		if (await condition()) return;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
}
