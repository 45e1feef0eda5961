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
