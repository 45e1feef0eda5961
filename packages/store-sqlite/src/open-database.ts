/**
 * Opening a SQLite file safely when several processes start at once: `busy_timeout` is installed before any other statement, including
 * `journal_mode=WAL` (which takes a lock during WAL recovery), and the whole open is retried on the
 * SQLITE_BUSY family with bounded exponential backoff before failing with an error naming the path.
 */
import {
	chmodSync,
	closeSync,
	existsSync,
	constants as fsConstants,
	fstatSync,
	lstatSync,
	mkdirSync,
	openSync,
	readSync,
} from "node:fs";
import { dirname, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { AuthpoolError } from "@authpool/core";
import { Kysely } from "kysely";
import { migrateToLatest } from "./migrate";
import type { SqliteSchema } from "./schema";
import { backoffDelayMs, delay, isSqliteBusyError } from "./sqlite-busy";
import { createSqliteDialect, type SqliteConnection } from "./sqlite-connection";
import { adoptSqliteConnection, openSqliteConnection } from "./sqlite-driver";
import type { ResolvedSqliteStoreOptions } from "./sqlite-store-options";

export interface OpenedDatabase {
	db: SqliteConnection;
	kysely: Kysely<SqliteSchema>;
	/** `true` when the store opened the connection (and so closes it). */
	owned: boolean;
	/** Absolute path, `":memory:"`, or the injected connection's name; used in messages only. */
	location: string;
}

const IN_MEMORY = ":memory:";
/** Longest pause between two open attempts once the backoff has grown. */
const OPEN_RETRY_CAP_MS = 250;

function chmodQuietly(path: string, mode: number): void {
	try {
		chmodSync(path, mode);
	} catch {
		// Not the owner, or a filesystem without modes (Windows): the open itself still works.
	}
}

/** The first 16 bytes of every SQLite 3 database file. */
const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");

function refuse(
	location: string,
	reason: string,
	code: "INVALID_OPTIONS" | "STORE_ERROR" = "STORE_ERROR",
): AuthpoolError {
	return new AuthpoolError(code, `Refusing to open SQLite credential store at ${location}: ${reason}`, {
		details: { path: location },
	});
}

/**
 * Checks of an existing file, on a descriptor opened without following a final symlink (unless
 * allowed), so what is checked is what SQLite then opens: owned by this process's user, not
 * group/world-writable, and empty or a SQLite database. Nothing is changed before they pass.
 */
function checkExistingFile(location: string, allowSymlink: boolean): void {
	const flags = fsConstants.O_RDONLY | (allowSymlink ? 0 : (fsConstants.O_NOFOLLOW ?? 0));
	let fd: number;
	try {
		fd = openSync(location, flags);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === "ELOOP") {
			throw refuse(location, "the path is a symbolic link (pass allowSymlink: true to accept it)", "INVALID_OPTIONS");
		}
		throw error;
	}
	try {
		const stats = fstatSync(fd);
		if (!stats.isFile()) throw refuse(location, "not a regular file");
		const uid = process.getuid?.();
		// Also as root: a file planted by another user is not ours to trust or to chown.
		if (uid !== undefined && stats.uid !== uid) {
			throw refuse(location, `the file is owned by uid ${stats.uid}, not by this process (uid ${uid})`);
		}
		if (process.platform !== "win32" && (stats.mode & 0o022) !== 0) {
			throw refuse(location, `the file is group- or world-writable (mode ${(stats.mode & 0o777).toString(8)})`);
		}
		if (stats.size > 0) {
			const header = Buffer.alloc(SQLITE_HEADER.length);
			const read = readSync(fd, header, 0, header.length, 0);
			if (read !== header.length || !header.equals(SQLITE_HEADER)) throw refuse(location, "not a SQLite database");
		}
	} finally {
		closeSync(fd);
	}
}

/** `-wal`/`-shm` are written by SQLite through their own names: a symlinked one would redirect writes. */
function checkSidecars(location: string, allowSymlink: boolean): void {
	if (allowSymlink) return;
	for (const suffix of ["-wal", "-shm"]) {
		let stats: ReturnType<typeof lstatSync> | undefined;
		try {
			stats = lstatSync(location + suffix);
		} catch {
			continue;
		}
		if (stats.isSymbolicLink()) {
			throw refuse(location, `${suffix} is a symbolic link (pass allowSymlink: true to accept it)`, "INVALID_OPTIONS");
		}
	}
}

/**
 * Create the missing directories of `directory`, each 0700, one level at a time: Node's recursive mkdir
 * can spin forever on pseudo file systems (a path under /proc), where one level fails at once.
 */
function makeDirectories(directory: string): void {
	const missing: string[] = [];
	for (let current = directory; !existsSync(current); current = dirname(current)) {
		missing.push(current);
		if (dirname(current) === current) break;
	}
	for (const path of missing.reverse()) {
		try {
			mkdirSync(path, { mode: 0o700 });
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === "EEXIST") continue;
			throw error;
		}
		chmodQuietly(path, 0o700);
	}
}

/** Directory 0700 when we create it; the file created 0600 before SQLite opens it, so it is never wider. */
function prepareFile(location: string, allowSymlink: boolean): void {
	makeDirectories(dirname(location));
	let created = false;
	try {
		// `wx` fails on any existing entry, dangling symlinks included: nothing is ever created through a link.
		closeSync(openSync(location, "wx", 0o600));
		created = true;
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
	}
	if (!created) checkExistingFile(location, allowSymlink);
	checkSidecars(location, allowSymlink);
	chmodQuietly(location, 0o600);
}

/** SQLite creates `-wal`/`-shm` with the main file's mode; tighten them anyway in case it was wider before. */
function tightenSidecars(location: string): void {
	for (const suffix of ["-wal", "-shm"]) {
		if (existsSync(location + suffix)) chmodQuietly(location + suffix, 0o600);
	}
}

async function configure(
	db: SqliteConnection,
	options: ResolvedSqliteStoreOptions,
	location: string,
): Promise<Kysely<SqliteSchema>> {
	// Order matters: the busy handler must exist before the first lock-taking statement.
	db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
	db.pragma("journal_mode = WAL");
	db.pragma("foreign_keys = ON");
	db.pragma(`synchronous = ${options.synchronous}`);
	const kysely = new Kysely<SqliteSchema>({ dialect: createSqliteDialect(() => db) });
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
	const injected = options.database ? adoptSqliteConnection(options.database) : undefined;
	const location = injected
		? injected.name || IN_MEMORY
		: options.path === IN_MEMORY
			? IN_MEMORY
			: resolve(options.path ?? IN_MEMORY);
	const fileBacked = !injected && location !== IN_MEMORY;
	if (fileBacked) {
		try {
			prepareFile(location, options.allowSymlink);
		} catch (error) {
			throw openFailure(location, error);
		}
	}

	let lastBusy: unknown;
	const started = performance.now();
	// At least `openAttempts`, and on until `busyDeadlineMs`: the busy timeout is only milliseconds,
	// so the waiting for a peer's lock (WAL recovery, a migration) happens here, between attempts.
	const more = (attempt: number) =>
		attempt < options.openAttempts || performance.now() - started < options.busyDeadlineMs;
	let attempt = 0;
	for (; more(attempt); attempt++) {
		let db: SqliteConnection | undefined;
		try {
			db = injected ?? (await openSqliteConnection(location, options.busyTimeoutMs));
			const kysely = await configure(db, options, location);
			if (fileBacked) tightenSidecars(location);
			return { db, kysely, owned: !injected, location };
		} catch (error) {
			if (!injected && db?.open) db.close();
			if (!isSqliteBusyError(error)) throw openFailure(location, error);
			lastBusy = error;
			if (more(attempt + 1)) {
				await delay(Math.min(backoffDelayMs(attempt, options.openRetryBaseMs), OPEN_RETRY_CAP_MS));
			}
		}
	}
	throw new AuthpoolError(
		"STORE_ERROR",
		`Could not open SQLite credential store at ${location}: still busy after ${attempt} attempts`,
		{ cause: lastBusy, details: { path: location, attempts: attempt } },
	);
}
