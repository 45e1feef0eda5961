/**
 * Arguments of `createPostgresStore`, validated with zod at construction.
 */
import { type Clock, invalidOptions, type Logger } from "@authpool/core";
import type { Kysely } from "kysely";
import type pg from "pg";
import { z } from "zod";

/** Where the store connects: a URL (the store owns its pool), a caller's `pg.Pool`, or a caller's Kysely. */
export type PostgresConnection =
	| { connectionString: string }
	| { pool: pg.Pool }
	// biome-ignore lint/suspicious/noExplicitAny: the caller's database has its own tables; the store only uses its schema.
	| { db: Kysely<any> };

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions {
	/** Schema holding the store's tables (created when missing). Lower-case identifier. @default "authpool" */
	schema?: string;
	/** Time source for expiries (cache, blocks, leases) and row timestamps. @default Date.now */
	clock?: Clock;
	/** Receives warnings and debug lines; never a secret nor a SQL parameter. @default silent */
	logger?: Logger;
	/**
	 * How long one operation keeps retrying transient connection errors (refused, reset, admin
	 * shutdown, SQLSTATE class 08) before failing with `STORE_ERROR`. @default 5000
	 */
	retryDeadlineMs?: number;
	/** `statement_timeout`/`query_timeout` and connect timeout of connections the store opens. @default 10000 */
	statementTimeoutMs?: number;
	/**
	 * Stores of this process on the same schema tell each other about writes at once, without waiting
	 * for the NOTIFY round trip. @default true
	 */
	localPeers?: boolean;
	/** Poll interval of the change feed when no listener connection can be made (a `{ db }` connection). @default 250 */
	pollIntervalMs?: number;
}

const fn = z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", {
	message: "expected a function",
});

const connectionSchema = z.union([
	z.object({ connectionString: z.string().min(1) }).strict(),
	z.object({ pool: z.custom<pg.Pool>((v) => typeof (v as { connect?: unknown })?.connect === "function") }).strict(),
	z
		.object({
			db: z.custom<Kysely<unknown>>((v) => typeof (v as { transaction?: unknown })?.transaction === "function"),
		})
		.strict(),
]);

const optionsSchema = z
	.object({
		// Quoted into SQL as an identifier and used in a NOTIFY channel name, hence the tight shape.
		schema: z
			.string()
			.regex(/^[a-z_][a-z0-9_]{0,39}$/, "expected a lower-case identifier of at most 40 characters")
			.optional(),
		clock: z.object({ now: fn }).optional(),
		logger: z.object({ debug: fn, info: fn, warn: fn, error: fn }).optional(),
		retryDeadlineMs: z.number().int().min(0).max(600_000).optional(),
		statementTimeoutMs: z.number().int().min(100).max(600_000).optional(),
		localPeers: z.boolean().optional(),
		pollIntervalMs: z.number().int().min(10).max(60_000).optional(),
	})
	.strict();

export interface ResolvedPostgresOptions {
	connection: PostgresConnection;
	schema: string;
	clock: Clock | undefined;
	logger: Logger | undefined;
	retryDeadlineMs: number;
	statementTimeoutMs: number;
	localPeers: boolean;
	pollIntervalMs: number;
}

/** Validate and default; throws `INVALID_OPTIONS` listing `path: message` (never the values). */
export function parsePostgresOptions(connection: unknown, options: unknown): ResolvedPostgresOptions {
	const conn = connectionSchema.safeParse(connection);
	if (!conn.success) {
		throw invalidOptions("createPostgresStore connection", [
			{ path: [], message: "give exactly one of `connectionString`, `pool` (pg.Pool) or `db` (Kysely)" },
		]);
	}
	const parsed = optionsSchema.safeParse(options ?? {});
	if (!parsed.success) throw invalidOptions("createPostgresStore", parsed.error.issues);
	const value = parsed.data;
	// Keep the caller's objects: zod returns copies, and methods may rely on `this`.
	const given = (options ?? {}) as { clock?: Clock; logger?: Logger };
	return {
		connection: connection as PostgresConnection,
		schema: value.schema ?? "authpool",
		clock: given.clock,
		logger: given.logger,
		retryDeadlineMs: value.retryDeadlineMs ?? 5000,
		statementTimeoutMs: value.statementTimeoutMs ?? 10_000,
		localPeers: value.localPeers ?? true,
		pollIntervalMs: value.pollIntervalMs ?? 250,
	};
}
