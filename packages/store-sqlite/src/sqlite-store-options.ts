/**
 * Options of `createSqliteStore`, validated with zod at construction.
 */
import { type Clock, invalidOptions, type Logger } from "@authpool/core";
import { z } from "zod";
import { isBunSqliteDatabase } from "./bun-sqlite-connection";

/**
 * An open better-sqlite3 `Database` (Node). Only the members the store uses are listed, so the
 * store's types do not depend on `@types/better-sqlite3`; a real `Database` fits.
 */
export interface BetterSqlite3DatabaseLike {
	readonly name: string;
	readonly memory: boolean;
	readonly open: boolean;
	readonly inTransaction: boolean;
	prepare(source: string): unknown;
	exec(source: string): unknown;
	pragma(source: string, options?: { simple?: boolean }): unknown;
	transaction(fn: (...args: never[]) => unknown): unknown;
	close(): unknown;
}

/** An open `bun:sqlite` `Database` (Bun). Only the members the store uses are listed. */
export interface BunSqliteDatabaseLike {
	readonly filename: string;
	readonly inTransaction: boolean;
	prepare(sql: string): unknown;
	query(sql: string): unknown;
	exec(sql: string): unknown;
	transaction(fn: (...args: never[]) => unknown): unknown;
	close(throwOnError?: boolean): unknown;
}

/** A connection the caller opened: better-sqlite3 on Node, `bun:sqlite` on Bun. */
export type SqliteDatabaseLike = BetterSqlite3DatabaseLike | BunSqliteDatabaseLike;

/** Options of {@link createSqliteStore}. Give exactly one of `path` or `database`. */
export interface SqliteStoreOptions {
	/**
	 * Database file. Its directory is created `0700` when missing; the file (and its `-wal`/`-shm`)
	 * is kept `0600`. `":memory:"` opens a private in-memory database.
	 */
	path?: string;
	/**
	 * An open connection to use instead of `path`: a better-sqlite3 `Database` on Node, a `bun:sqlite`
	 * `Database` on Bun (open it with `{ strict: true }`). The store configures it (busy timeout, WAL,
	 * migrations) but does not close it: the caller owns it.
	 */
	database?: SqliteDatabaseLike;
	/** Time source for expiries (cache, blocks, leases) and row timestamps. @default Date.now */
	clock?: Clock;
	/** Receives warnings (corrupt rows) and debug lines; never a secret. @default silent */
	logger?: Logger;
	/**
	 * SQLite's own `busy_timeout`: how long one statement waits, synchronously (the event loop is
	 * stalled meanwhile), for another connection's lock before reporting SQLITE_BUSY. Keep it a few
	 * milliseconds; longer waits happen asynchronously, bounded by `busyDeadlineMs`. @default 5
	 */
	busyTimeoutMs?: number;
	/**
	 * How long one read or write keeps retrying while another connection holds the lock (short
	 * `busy_timeout` attempts separated by `setTimeout` with jittered backoff, so the process keeps
	 * running). Then the call fails with `AuthpoolError("STORE_BUSY")`. @default 5000
	 */
	busyDeadlineMs?: number;
	/**
	 * Accept a `path` that is a symbolic link. Without it a symlinked database file (or `-wal`/`-shm`)
	 * is refused with `INVALID_OPTIONS` before anything is opened. @default false
	 */
	allowSymlink?: boolean;
	/**
	 * Connection-wide `PRAGMA synchronous`. Writes of credential rows always commit with `FULL`
	 * (a rotated refresh token must survive power loss); this sets everything else (cache, blocks,
	 * leases, usage ledger). @default "NORMAL"
	 */
	synchronous?: "NORMAL" | "FULL";
	/**
	 * Attempts to open the database when it stays busy (e.g. WAL recovery after a crash while other
	 * processes start), with exponential backoff from `openRetryBaseMs`. @default 5
	 */
	openAttempts?: number;
	/** First backoff delay between open attempts. @default 50 */
	openRetryBaseMs?: number;
	/**
	 * How often `changes.subscribe` listeners are checked for other processes' writes (local writes
	 * notify at once). The timer runs only while someone listens. @default 250
	 */
	watchIntervalMs?: number;
}

const functionSchema = z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", {
	message: "expected a function",
});

const optionsSchema = z
	.object({
		path: z.string().min(1).optional(),
		database: z
			.custom<SqliteDatabaseLike>(
				(value) =>
					typeof value === "object" &&
					value !== null &&
					typeof (value as { prepare?: unknown }).prepare === "function" &&
					(typeof (value as { pragma?: unknown }).pragma === "function" || isBunSqliteDatabase(value)),
				{ message: "expected a better-sqlite3 or bun:sqlite Database" },
			)
			.optional(),
		clock: z.object({ now: functionSchema }).optional(),
		logger: z
			.object({ debug: functionSchema, info: functionSchema, warn: functionSchema, error: functionSchema })
			.optional(),
		busyTimeoutMs: z.number().int().min(0).max(600_000).optional(),
		busyDeadlineMs: z.number().int().min(0).max(600_000).optional(),
		allowSymlink: z.boolean().optional(),
		synchronous: z.enum(["NORMAL", "FULL"]).optional(),
		openAttempts: z.number().int().min(1).max(20).optional(),
		openRetryBaseMs: z.number().int().min(0).max(10_000).optional(),
		watchIntervalMs: z.number().int().min(10).max(60_000).optional(),
	})
	.strict()
	.refine((options) => (options.path === undefined) !== (options.database === undefined), {
		message: "give exactly one of `path` or `database`",
	});

export interface ResolvedSqliteStoreOptions {
	path: string | undefined;
	database: SqliteDatabaseLike | undefined;
	clock: Clock | undefined;
	logger: Logger | undefined;
	busyTimeoutMs: number;
	busyDeadlineMs: number;
	allowSymlink: boolean;
	synchronous: "NORMAL" | "FULL";
	openAttempts: number;
	openRetryBaseMs: number;
	watchIntervalMs: number;
}

/** Validate and default the options; throws `INVALID_OPTIONS` listing `path: message`. */
export function parseSqliteStoreOptions(options: unknown): ResolvedSqliteStoreOptions {
	const result = optionsSchema.safeParse(options);
	if (!result.success) throw invalidOptions("createSqliteStore", result.error.issues);
	const value = result.data;
	// Keep the caller's objects (zod returns stripped copies; methods may rely on `this`).
	const given = options as { clock?: Clock; logger?: Logger; database?: SqliteDatabaseLike };
	return {
		path: value.path,
		database: given.database,
		clock: given.clock,
		logger: given.logger,
		busyTimeoutMs: value.busyTimeoutMs ?? 5,
		busyDeadlineMs: value.busyDeadlineMs ?? 5000,
		allowSymlink: value.allowSymlink ?? false,
		synchronous: value.synchronous ?? "NORMAL",
		openAttempts: value.openAttempts ?? 5,
		openRetryBaseMs: value.openRetryBaseMs ?? 50,
		watchIntervalMs: value.watchIntervalMs ?? 250,
	};
}
