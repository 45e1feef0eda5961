/**
 * Test helpers: the server URL (from `AUTHPOOL_TEST_POSTGRES_URL`, see scripts/services.sh) and
 * throwaway schemas. Under CI a missing URL fails the file instead of silently skipping it.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

const DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test";

/** The test server URL; throws under CI when it is not configured. */
export function testPostgresUrl(): string {
	const url = process.env.AUTHPOOL_TEST_POSTGRES_URL;
	if (url) return url;
	if (process.env.CI) {
		throw new Error('AUTHPOOL_TEST_POSTGRES_URL is not set (run: eval "$(bash scripts/services.sh env)")');
	}
	return DEFAULT_URL;
}

/** A fresh schema name (not created: the store creates it). */
export function randomSchema(prefix = "t"): string {
	return `authpool_${prefix}_${randomBytes(6).toString("hex")}`;
}

/** Run one statement on a short-lived admin connection. */
export async function adminQuery<R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
	const client = new pg.Client({ connectionString: testPostgresUrl(), connectionTimeoutMillis: 5_000 });
	await client.connect();
	try {
		return (await client.query<R>(text, params)).rows;
	} finally {
		await client.end();
	}
}

export async function dropSchema(schema: string): Promise<void> {
	await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/**
 * Schemas for a file of many short tests, reused instead of created and dropped per test: creating and
 * migrating a schema costs a few hundred milliseconds of DDL, emptying one a few. `take()` hands out an
 * emptied schema (or a new name: the store creates and migrates it); `recycle()` empties it for the next
 * test; `dropAll()` drops every schema handed out (call it in `afterAll`).
 *
 * Emptying truncates every table but the migrator's and resets the revision row, so a store opened on a
 * recycled schema sees exactly what a fresh one would: no rows, ids from 1, revision 1 and a new token.
 */
export function recyclingSchemas(prefix = "t") {
	const all = new Set<string>();
	const free: string[] = [];
	// One admin connection for the whole file: connecting costs more than emptying a schema.
	let admin: Promise<pg.Client> | undefined;
	const adminClient = () => {
		admin ??= (async () => {
			const client = new pg.Client({ connectionString: testPostgresUrl(), connectionTimeoutMillis: 5_000 });
			await client.connect();
			return client;
		})();
		return admin;
	};
	return {
		take(): string {
			const schema = free.pop() ?? randomSchema(prefix);
			all.add(schema);
			return schema;
		},
		async recycle(schema: string): Promise<void> {
			const client = await adminClient();
			const tables = await client.query<{ tablename: string }>(
				"SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename NOT LIKE 'authpool_migration%' AND tablename <> 'auth_change_revision'",
				[schema],
			);
			if (tables.rows.length === 0) {
				// Never migrated (the test failed before opening a store): drop it, the next test starts afresh.
				await dropSchema(schema);
				all.delete(schema);
				return;
			}
			const list = tables.rows.map((t) => `"${schema}"."${t.tablename}"`).join(", ");
			await client.query(`TRUNCATE ${list} RESTART IDENTITY`);
			await client.query(
				`UPDATE "${schema}".auth_change_revision SET revision = 1, token = gen_random_uuid()::text WHERE id = 1`,
			);
			free.push(schema);
		},
		async dropAll(): Promise<void> {
			const client = admin;
			admin = undefined;
			if (client) await (await client).end();
			for (const schema of all) await dropSchema(schema);
			all.clear();
			free.length = 0;
		},
	};
}
