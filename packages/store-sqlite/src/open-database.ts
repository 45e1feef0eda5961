/**
 * Opening a SQLite file safely when several processes start at once: `busy_timeout` is installed before any other statement, including
 * `journal_mode=WAL` (which takes a lock during WAL recovery), and the whole open is retried on the
 * SQLITE_BUSY family with bounded exponential backoff before failing with an error naming the path.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { AuthpoolError } from "@authpool/core";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { migrateToLatest } from "./migrate";
import type { SqliteSchema } from "./schema";
import { backoffDelayMs, delay, isSqliteBusyError } from "./sqlite-busy";
import type { ResolvedSqliteStoreOptions } from "./sqlite-store-options";

export interface OpenedDatabase {
	db: BetterSqlite3.Database;
	kysely: Kysely<SqliteSchema>;
	/** `true` when the store opened the connection (and so closes it). */
	owned: boolean;
	/** Absolute path, `":memory:"`, or the injected connection's name; used in messages only. */
	location: string;
}

const IN_MEMORY = ":memory:";

function chmodQuietly(path: string, mode: number): void {
	try {
		chmodSync(path, mode);
	} catch {
		// Not the owner, or a filesystem without modes (Windows): the open itself still works.
	}
}

/** Directory 0700 when we create it; the file created 0600 before SQLite opens it, so it is never wider. */
function prepareFile(location: string): void {
	const directory = dirname(location);
	if (!existsSync(directory)) {
		mkdirSync(directory, { recursive: true, mode: 0o700 });
		chmodQuietly(directory, 0o700);
	}
	closeSync(openSync(location, "a", 0o600));
	chmodQuietly(location, 0o600);
}

/** SQLite creates `-wal`/`-shm` with the main file's mode; tighten them anyway in case it was wider before. */
function tightenSidecars(location: string): void {
	for (const suffix of ["-wal", "-shm"]) {
		if (existsSync(location + suffix)) chmodQuietly(location + suffix, 0o600);
	}
}

async function configure(
	db: BetterSqlite3.Database,
	options: ResolvedSqliteStoreOptions,
	location: string,
): Promise<Kysely<SqliteSchema>> {
	// Order matters: the busy handler must exist before the first lock-taking statement.
	db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
	db.pragma("journal_mode = WAL");
	db.pragma("foreign_keys = ON");
	db.pragma(`synchronous = ${options.synchronous}`);
	const kysely = new Kysely<SqliteSchema>({ dialect: new SqliteDialect({ database: db }) });
	await migrateToLatest(db, kysely, location);
	return kysely;
}

function openFailure(location: string, error: unknown): AuthpoolError {
	if (AuthpoolError.isInstance(error)) return error;
	const reason = error instanceof Error ? error.message : String(error);
	return new AuthpoolError("STORE_ERROR", `Could not open SQLite credential store at ${location}: ${reason}`, {
		cause: error,
		details: { path: location },
	});
}

/** Open (or adopt), configure and migrate the database. */
export async function openSqliteDatabase(options: ResolvedSqliteStoreOptions): Promise<OpenedDatabase> {
	const injected = options.database;
	const location = injected
		? injected.name || IN_MEMORY
		: options.path === IN_MEMORY
			? IN_MEMORY
			: resolve(options.path ?? IN_MEMORY);
	const fileBacked = !injected && location !== IN_MEMORY;
	if (fileBacked) {
		try {
			prepareFile(location);
		} catch (error) {
			throw openFailure(location, error);
		}
	}

	let lastBusy: unknown;
	for (let attempt = 0; attempt < options.openAttempts; attempt++) {
		let db: BetterSqlite3.Database | undefined;
		try {
			db = injected ?? new BetterSqlite3(location, { timeout: options.busyTimeoutMs });
			const kysely = await configure(db, options, location);
			if (fileBacked) tightenSidecars(location);
			return { db, kysely, owned: !injected, location };
		} catch (error) {
			if (!injected && db?.open) db.close();
			if (!isSqliteBusyError(error)) throw openFailure(location, error);
			lastBusy = error;
			if (attempt < options.openAttempts - 1) await delay(backoffDelayMs(attempt, options.openRetryBaseMs));
		}
	}
	throw new AuthpoolError(
		"STORE_ERROR",
		`Could not open SQLite credential store at ${location}: still busy after ${options.openAttempts} attempts`,
		{ cause: lastBusy, details: { path: location, attempts: options.openAttempts } },
	);
}
