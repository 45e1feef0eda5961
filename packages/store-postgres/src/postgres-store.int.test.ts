import { performance } from "node:perf_hooks";
import { AuthpoolError } from "@authpool/core";
import { adminQuery, dropSchema, randomSchema, testPostgresUrl } from "@authpool/test-services";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createPostgresStore, LISTENER_APPLICATION_NAME, type PostgresCredentialStore } from "./index";

const connectionString = testPostgresUrl();
const apiKey = (key: string) => ({ type: "api_key" as const, key });

const opened: PostgresCredentialStore[] = [];
const schemas: string[] = [];

afterEach(async () => {
	for (const store of opened.splice(0)) await store.close();
	for (const schema of schemas.splice(0)) await dropSchema(schema);
});

function freshSchema(prefix: string): string {
	const schema = randomSchema(prefix);
	schemas.push(schema);
	return schema;
}

async function openStore(schema: string, options: { localPeers?: boolean } = {}): Promise<PostgresCredentialStore> {
	const store = await createPostgresStore({ connectionString }, { schema, ...options });
	opened.push(store);
	return store;
}

function percentile(sorted: number[], p: number): number {
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe("postgres store", () => {
	it("four stores created at once on a fresh schema migrate it exactly once", async () => {
		const schema = freshSchema("mig");
		const stores = await Promise.all([1, 2, 3, 4].map(() => openStore(schema)));
		const applied = await adminQuery<{ name: string }>(`SELECT name FROM "${schema}".authpool_migration`);
		expect(applied.map((row) => row.name)).toEqual(["0001_initial", "0002_provider_settings", "0003_client_usage"]);
		const row = await stores[0]!.rows.insert("openai", apiKey("test-key-1"));
		for (const store of stores) expect(await store.rows.get(row.id)).toEqual(row);
	});

	it("an up-to-date schema opens without the migrator: a held migration lock does not stall it", async () => {
		const schema = freshSchema("fast");
		await (await openStore(schema)).close();
		const holder = new pg.Client({ connectionString });
		await holder.connect();
		try {
			// What a migrating instance holds for its whole run; an open that ran the migrator would wait on it.
			await holder.query("BEGIN");
			await holder.query(`LOCK TABLE "${schema}".authpool_migration_lock IN ACCESS EXCLUSIVE MODE`);
			const store = await createPostgresStore({ connectionString }, { schema, statementTimeoutMs: 2_000 });
			opened.push(store);
			expect(await store.rows.listActive("openai")).toEqual([]);
		} finally {
			await holder.query("ROLLBACK").catch(() => undefined);
			await holder.end();
		}
	});

	it("a schema one migration behind is upgraded on open; one with an unknown migration is SCHEMA_TOO_NEW", async () => {
		const behind = freshSchema("behind");
		await (await openStore(behind)).close();
		await adminQuery(`DROP TABLE "${behind}".auth_client_usage`);
		await adminQuery(`DELETE FROM "${behind}".authpool_migration WHERE name = '0003_client_usage'`);
		const upgraded = await openStore(behind);
		const entry = {
			at: Date.now(),
			provider: "openai",
			model: "gpt",
			requests: 1,
			inputTokens: 10,
			outputTokens: 2,
			cacheReadTokens: 0,
			cacheWriteTokens: 0,
			costUsd: 0.01,
		};
		await upgraded.ledger.recordClientUsage!({ installId: "upgraded", entries: [entry] });
		expect((await upgraded.ledger.listClientUsage!())[0]).toMatchObject({ installId: "upgraded" });

		const newer = freshSchema("newer");
		await (await openStore(newer)).close();
		await adminQuery(`INSERT INTO "${newer}".authpool_migration (name, timestamp) VALUES ('9999_future', now()::text)`);
		const error = await createPostgresStore({ connectionString }, { schema: newer }).catch((caught: unknown) => caught);
		expect((error as AuthpoolError).code).toBe("SCHEMA_TOO_NEW");
	});

	it("concurrent upserts of one new identity from two instances leave exactly one active row", async () => {
		const schema = freshSchema("ups");
		const a = await openStore(schema);
		const b = await openStore(schema);
		const results = await Promise.all(
			[a, b, a, b, a, b].map((store) => store.rows.upsertByIdentity("openai", apiKey("test-key-same"))),
		);
		expect(results.filter((result) => result.inserted)).toHaveLength(1);
		const active = await a.rows.listActive("openai");
		expect(active).toHaveLength(1);
		expect(new Set(results.map((result) => result.row.id))).toEqual(new Set([active[0]!.id]));
	});

	it("a change on one instance reaches the other through NOTIFY (p50/p99 of 50 changes)", async () => {
		const schema = freshSchema("notify");
		// localPeers off: the same-process shortcut would hide the NOTIFY path being measured.
		const a = await openStore(schema, { localPeers: false });
		const b = await openStore(schema, { localPeers: false });
		await vi.waitFor(() => expect(b.changes.listening).toBe(true));
		const row = await a.rows.insert("openai", apiKey("test-key-1"));
		// The insert's NOTIFY must have arrived first, or round 0 would measure it instead of its own write.
		await vi.waitFor(() => expect(b.changes.revision()).toBe(a.changes.revision()));
		const latencies: number[] = [];
		const afterWrite: number[] = [];
		for (let i = 0; i < 50; i++) {
			const started = performance.now();
			await a.rows.update(row.id, apiKey(`test-key-${i + 2}`));
			const written = performance.now();
			const target = a.changes.revision();
			await new Promise<void>((resolve) => {
				if (b.changes.revision() >= target) return resolve();
				const unsubscribe = b.changes.subscribe(() => {
					if (b.changes.revision() >= target) {
						unsubscribe();
						resolve();
					}
				});
			});
			const now = performance.now();
			latencies.push(now - started);
			afterWrite.push(now - written);
		}
		expect(latencies).toHaveLength(50);
		const sorted = [...latencies].sort((x, y) => x - y);
		const tail = [...afterWrite].sort((x, y) => x - y);
		// Figures only: absolute times depend on the machine.
		console.log(
			`NOTIFY propagation over 50 writes: write start -> peer revision moved p50 ${percentile(sorted, 50).toFixed(1)} ms, ` +
				`p99 ${percentile(sorted, 99).toFixed(1)} ms; after the write resolved p50 ${percentile(tail, 50).toFixed(1)} ms, ` +
				`p99 ${percentile(tail, 99).toFixed(1)} ms`,
		);
		expect(b.changes.revision()).toBe(a.changes.revision());
	});

	it("after its listener backend is terminated, a store reconnects, resyncs and sees later changes", async () => {
		const schema = freshSchema("recon");
		const a = await openStore(schema, { localPeers: false });
		const b = await openStore(schema, { localPeers: false });
		await vi.waitFor(() => expect(b.changes.listening).toBe(true));
		let heard = 0;
		b.changes.subscribe(() => heard++);
		const terminated = await adminQuery<{ ok: boolean }>(
			"SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND query = $2",
			[LISTENER_APPLICATION_NAME, `LISTEN "authpool_changes_${schema}"`],
		);
		expect(terminated.length).toBe(2);
		// Written while the listeners are (most likely) down: only the resync can deliver it.
		await a.rows.insert("openai", apiKey("test-key-1"));
		await vi.waitFor(() => expect(b.changes.revision()).toBe(a.changes.revision()), { timeout: 10_000 });
		await vi.waitFor(() => expect(b.changes.listening).toBe(true), { timeout: 10_000 });
		const heardBefore = heard;
		await a.rows.insert("openai", apiKey("test-key-2"));
		await vi.waitFor(() => expect(b.changes.revision()).toBe(a.changes.revision()), { timeout: 5_000 });
		expect(heard).toBeGreaterThan(heardBefore);
	});

	it("an unreachable server fails with a typed STORE_ERROR within the retry bound, without the password", async () => {
		const started = Date.now();
		const error = await createPostgresStore(
			{ connectionString: "postgres://postgres:test-password-1@127.0.0.1:1/test" },
			{ schema: freshSchema("dead"), retryDeadlineMs: 300 },
		).then(
			() => undefined,
			(caught: unknown) => caught,
		);
		expect(AuthpoolError.isInstance(error)).toBe(true);
		expect((error as AuthpoolError).code).toBe("STORE_ERROR");
		expect((error as AuthpoolError).message).not.toContain("test-password-1");
		expect(Date.now() - started).toBeLessThan(10_000);
	});

	it("bad options are INVALID_OPTIONS", async () => {
		for (const [connection, options] of [
			[{ connectionString: connectionString }, { schema: "Bad; DROP" }],
			[{ connectionString: connectionString }, { nope: true }],
			[{}, {}],
		] as const) {
			const error = await createPostgresStore(connection as never, options as never).catch((caught: unknown) => caught);
			expect((error as AuthpoolError).code).toBe("INVALID_OPTIONS");
		}
	});

	it("close() leaves a caller's pool open; a caller's Kysely works (polled change feed)", async () => {
		const schema = freshSchema("pool");
		const pool = new pg.Pool({ connectionString, max: 4 });
		const db = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString, max: 4 }) }) });
		try {
			const onPool = await createPostgresStore({ pool }, { schema });
			const onDb = await createPostgresStore({ db }, { schema, localPeers: false, pollIntervalMs: 20 });
			opened.push(onDb);
			const row = await onPool.rows.insert("openai", apiKey("test-key-1"));
			await vi.waitFor(() => expect(onDb.changes.revision()).toBe(onPool.changes.revision()));
			expect(await onDb.rows.get(row.id)).toEqual(row);
			await onPool.close();
			expect((await pool.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
		} finally {
			for (const store of opened.splice(0)) await store.close();
			await pool.end();
			await db.destroy();
		}
	});
});

describe("postgres store errors", () => {
	it("a server error becomes STORE_ERROR naming the SQLSTATE, not the server's message", async () => {
		const schema = freshSchema("err");
		const store = await openStore(schema);
		// Break the schema underneath the store: the next insert fails on the server.
		await adminQuery(`DROP TABLE "${schema}".auth_credentials CASCADE`);
		const error = await store.rows.insert("openai", apiKey("test-key-1")).catch((caught: unknown) => caught);
		expect((error as AuthpoolError).code).toBe("STORE_ERROR");
		expect((error as AuthpoolError).message).toContain("SQLSTATE 42P01");
		expect((error as AuthpoolError).message).not.toContain("test-key-1");
	});
});
