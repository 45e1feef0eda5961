/**
 * What every part of the SQLite store shares: the connection, a prepared-statement cache, the
 * clock and logger, the closed flag, and the one way to write (a short `BEGIN IMMEDIATE`
 * transaction, retried on the BUSY family).
 *
 * Waiting for another connection's lock happens here, asynchronously, not in SQLite's busy handler:
 * the handler sleeps on the event-loop thread (every timer, socket and IPC message of the process
 * stalls for as long as it waits), so the connection's `busy_timeout` stays a few milliseconds and
 * a BUSY operation is retried after a `setTimeout` with jittered backoff until its deadline.
 */
import { statSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { AuthpoolError, type Clock, type Logger } from "@authpool/core";
import { delay, isSqliteBusyError, jitteredBackoffMs } from "./sqlite-busy";
import type { SqliteConnection, SqliteStatement } from "./sqlite-connection";

/** First backoff after a BUSY operation; doubles per attempt up to the cap. */
const OPERATION_RETRY_BASE_MS = 2;
/**
 * Longest pause between two attempts. Kept short because another process writing in a loop frees the
 * lock only for moments between its transactions; a waiter that sleeps long misses them all.
 */
const OPERATION_RETRY_CAP_MS = 25;

interface QueueEntry {
	resolve: () => void;
}

/** How often, at most, the warm change check stats the database file for a replacement. */
export const FILE_CHECK_INTERVAL_MS = 1_000;

/** Device + inode of the database file: a different pair means the path now names another file. */
interface FileIdentity {
	dev: number;
	ino: number;
}

function fileIdentity(path: string): FileIdentity | undefined {
	try {
		const stats = statSync(path);
		return { dev: stats.dev, ino: stats.ino };
	} catch {
		return undefined;
	}
}

/** Knobs of a {@link SqliteContext}. */
export interface SqliteContextOptions {
	/** Connection-wide `PRAGMA synchronous`. */
	synchronous: string;
	/** How long one operation keeps retrying on BUSY before failing with `STORE_BUSY`. */
	busyDeadlineMs: number;
	/** Monotonic milliseconds for the deadline (tests inject one). @default performance.now */
	monotonicNow?: () => number;
	/**
	 * Opens a fresh connection to the same path (safety checks, pragmas, migrations). Given only for
	 * file-backed stores that own their connection; enables noticing a replaced or deleted file.
	 */
	reopen?: () => Promise<SqliteConnection>;
}

export interface WriteOptions {
	/** Commit with `synchronous=FULL` even when the connection runs `NORMAL` (credential rows). */
	durable?: boolean;
}

export class SqliteContext {
	/** The live connection; replaced (never mutated) when the file was swapped under us. */
	db: SqliteConnection;
	readonly clock: Clock;
	readonly logger: Logger;
	readonly location: string;
	readonly #relaxed: boolean;
	readonly #busyDeadlineMs: number;
	readonly #monotonicNow: () => number;
	readonly #reopen: (() => Promise<SqliteConnection>) | undefined;
	#identity: FileIdentity | undefined;
	#walIdentity: FileIdentity | undefined;
	#nextFileCheck = 0;
	#reopening: Promise<void> | undefined;
	/** Called after the connection was replaced (the change feed re-prepares its statements). */
	afterReopen: () => void = () => {};
	/** Callers of this connection waiting out another connection's lock; the first one probes. */
	readonly #waiters: QueueEntry[] = [];
	readonly #statements = new Map<string, SqliteStatement>();
	#closed = false;
	/** Set by local writes: `data_version` only moves for other connections' commits. */
	localChange = true;
	/** Called after every local commit (the change feed notifies its listeners from here). */
	afterWrite: () => void = () => {};

	constructor(db: SqliteConnection, clock: Clock, logger: Logger, location: string, options: SqliteContextOptions) {
		this.db = db;
		this.clock = clock;
		this.logger = logger;
		this.location = location;
		this.#relaxed = options.synchronous !== "FULL";
		this.#busyDeadlineMs = options.busyDeadlineMs;
		this.#monotonicNow = options.monotonicNow ?? (() => performance.now());
		this.#reopen = options.reopen;
		if (this.#reopen) {
			this.#identity = fileIdentity(location);
			this.#walIdentity = fileIdentity(`${location}-wal`);
			this.#nextFileCheck = this.#monotonicNow() + FILE_CHECK_INTERVAL_MS;
		}
	}

	/**
	 * Cheap on the warm path: one clock read per call, one `stat` per {@link FILE_CHECK_INTERVAL_MS}.
	 * When the path now names another file (replaced, or deleted and recreated) or nothing at all, the
	 * connection still points at the old inode and every peer writes elsewhere: warn and reopen.
	 */
	checkFile(): void {
		if (!this.#reopen || this.#reopening || this.#closed) return;
		const now = this.#monotonicNow();
		if (now < this.#nextFileCheck) return;
		this.#nextFileCheck = now + FILE_CHECK_INTERVAL_MS;
		const current = fileIdentity(this.location);
		const known = this.#identity;
		if (current && known && current.dev === known.dev && current.ino === known.ino) {
			this.#checkWal();
			return;
		}
		this.logger.warn("sqlite store file was replaced or deleted; reopening", {
			path: this.location,
			deleted: current === undefined,
		});
		this.#startReopen();
	}

	/**
	 * While this connection is open SQLite keeps the `-wal` (same inode) on disk: one that vanished or was
	 * swapped was touched from outside. Closing checkpoints our frames into the database through the
	 * handle we still hold, so reopening keeps every commit; a foreign WAL is never replayed as ours.
	 */
	#checkWal(): void {
		const wal = fileIdentity(`${this.location}-wal`);
		const known = this.#walIdentity;
		if (known === undefined) {
			this.#walIdentity = wal;
			return;
		}
		if (wal && wal.dev === known.dev && wal.ino === known.ino) return;
		this.logger.warn("sqlite store WAL file was replaced or deleted; reopening", {
			path: `${this.location}-wal`,
			deleted: wal === undefined,
		});
		this.#startReopen();
	}

	#startReopen(): void {
		const reopen = this.#reopen;
		if (!reopen || this.#reopening) return;
		// The old connection goes first: closing it checkpoints into the old inode and removes the
		// `-wal`/`-shm` by name, so the new connection never replays the old file's frames onto the new one.
		this.#statements.clear();
		try {
			this.db.close();
		} catch {
			// Already unusable (its file is gone): nothing left to release.
		}
		this.#reopening = reopen()
			.then((db) => {
				if (this.#closed) {
					db.close();
					return;
				}
				this.db = db;
				this.#identity = fileIdentity(this.location);
				this.#walIdentity = fileIdentity(`${this.location}-wal`);
				this.localChange = true;
				this.afterReopen();
				this.logger.warn("sqlite store reopened", { path: this.location });
			})
			.catch((error: unknown) => {
				this.logger.error("sqlite store could not reopen its file", {
					path: this.location,
					error: error instanceof Error ? error.message : String(error),
				});
			})
			.finally(() => {
				this.#reopening = undefined;
			});
	}

	/** `true` while the connection is being replaced (synchronous readers answer from what they know). */
	get reopening(): boolean {
		return this.#reopening !== undefined;
	}

	/** Resolves once a reopen in progress finished (operations start on the new connection). */
	async settled(): Promise<void> {
		await this.#reopening;
	}

	get closed(): boolean {
		return this.#closed;
	}

	markClosed(): void {
		this.#closed = true;
		this.#statements.clear();
	}

	now(): number {
		return this.clock.now();
	}

	/** A prepared statement, compiled once per connection. */
	statement(sql: string): SqliteStatement {
		let statement = this.#statements.get(sql);
		if (!statement) {
			statement = this.db.prepare(sql);
			this.#statements.set(sql, statement);
		}
		return statement;
	}

	/** A prepared statement whose rows come as arrays of columns in select order (no object per row). */
	rawStatement(sql: string): SqliteStatement {
		const key = `raw\0${sql}`;
		let statement = this.#statements.get(key);
		if (!statement) {
			statement = this.db.prepare(sql).raw(true);
			this.#statements.set(key, statement);
		}
		return statement;
	}

	assertOpen(operation: string): void {
		if (this.#closed) {
			throw new AuthpoolError("STORE_CLOSED", `SQLite credential store at ${this.location} is closed (${operation})`);
		}
	}

	/** Wrap a driver error; SQLite messages name tables/constraints, never bound values. */
	fail(operation: string, error: unknown): AuthpoolError {
		if (AuthpoolError.isInstance(error)) return error;
		const code = (error as { code?: unknown } | null)?.code;
		// The file moved or vanished under the connection: check now rather than at the next interval.
		if (typeof code === "string" && /^SQLITE_(READONLY_DBMOVED|IOERR|CANTOPEN)/.test(code)) {
			this.#nextFileCheck = 0;
			this.checkFile();
		}
		const reason = error instanceof Error ? error.message : String(error);
		return new AuthpoolError("STORE_ERROR", `SQLite credential store ${operation} failed: ${reason}`, {
			cause: error,
			details: { path: this.location, operation },
		});
	}

	/** A synchronous read (reads never wait on writers under WAL). */
	readSync<T>(operation: string, fn: () => T): T {
		this.assertOpen(operation);
		try {
			return fn();
		} catch (error) {
			throw this.fail(operation, error);
		}
	}

	/** A read, retried if it still meets a lock (WAL recovery after a crash). */
	async read<T>(operation: string, fn: () => T): Promise<T> {
		return this.#withBusyRetry(operation, fn, false);
	}

	/**
	 * `fn` inside `BEGIN IMMEDIATE`: the write lock is taken up front, so the transaction never has to
	 * upgrade a read snapshot (which fails with BUSY_SNAPSHOT without waiting). Keep `fn` short and
	 * synchronous.
	 */
	async write<T>(operation: string, fn: () => T, options: WriteOptions = {}): Promise<T> {
		const durable = options.durable === true && this.#relaxed;
		const result = await this.#withBusyRetry(
			operation,
			() => {
				// Built per attempt, on the connection of that moment (a reopen may have replaced it).
				const transaction = this.db.transaction(fn);
				// `exec`, not a prepared statement: SQLite applies this pragma when it is compiled, so a
				// prepared copy would set the level once, at prepare time, and never again.
				if (durable) this.db.exec("PRAGMA synchronous = FULL");
				try {
					return transaction.immediate();
				} finally {
					this.localChange = true;
					if (durable) this.db.exec("PRAGMA synchronous = NORMAL");
				}
			},
			true,
		);
		this.afterWrite();
		return result;
	}

	/**
	 * Run `fn`, retrying on the BUSY family until the deadline. Writers (`queue`) that meet a lock wait
	 * in one FIFO per connection; readers never queue behind them (WAL readers do not wait on the
	 * writer, so a read is only BUSY in rare cases such as WAL recovery, and retries on its own).
	 */
	async #withBusyRetry<T>(operation: string, fn: () => T, queue: boolean): Promise<T> {
		if (this.#reopening) await this.#reopening;
		this.assertOpen(operation);
		let lastBusy: unknown;
		// Nobody of this connection is waiting out a lock: try at once (the common, uncontended case).
		if (!queue || this.#waiters.length === 0) {
			try {
				return fn();
			} catch (error) {
				if (!isSqliteBusyError(error)) throw this.fail(operation, error);
				lastBusy = error;
			}
		}
		const started = this.#monotonicNow();
		this.logger.debug("sqlite store busy, waiting", { operation });
		// One prober per connection: each attempt may spend `busy_timeout` in SQLite's synchronous busy
		// handler, so N callers probing in parallel would stall the event loop N times as long.
		if (queue) await this.#enterQueue(operation, started, lastBusy);
		try {
			for (let attempt = 0; ; attempt++) {
				this.assertOpen(operation);
				try {
					return fn();
				} catch (error) {
					if (!isSqliteBusyError(error)) throw this.fail(operation, error);
					const waitedMs = this.#monotonicNow() - started;
					const remainingMs = this.#busyDeadlineMs - waitedMs;
					if (remainingMs <= 0) throw this.#busy(operation, attempt + 1, waitedMs, error);
					await delay(
						Math.min(remainingMs, jitteredBackoffMs(attempt, OPERATION_RETRY_BASE_MS, OPERATION_RETRY_CAP_MS)),
					);
				}
			}
		} finally {
			if (queue) this.#leaveQueue();
		}
	}

	/** Wait (FIFO) until this caller is the connection's one prober, or fail once its deadline passed. */
	#enterQueue(operation: string, started: number, lastBusy: unknown): Promise<void> {
		if (this.#waiters.length === 0) {
			this.#waiters.push({ resolve: () => {} });
			return Promise.resolve();
		}
		const remainingMs = this.#busyDeadlineMs - (this.#monotonicNow() - started);
		return new Promise<void>((enter, reject) => {
			const entry: QueueEntry = {
				resolve: () => {
					clearTimeout(timer);
					enter();
				},
			};
			const timer = setTimeout(
				() => {
					const index = this.#waiters.indexOf(entry);
					if (index > 0) this.#waiters.splice(index, 1);
					reject(this.#busy(operation, 0, this.#monotonicNow() - started, lastBusy));
				},
				Math.max(0, remainingMs),
			);
			this.#waiters.push(entry);
		});
	}

	#leaveQueue(): void {
		this.#waiters.shift();
		this.#waiters[0]?.resolve();
	}

	/** The deadline passed: the message names the operation and the file, never a bound value. */
	#busy(operation: string, attempts: number, waitedMs: number, cause: unknown): AuthpoolError {
		const waited = Math.round(waitedMs);
		return new AuthpoolError(
			"STORE_BUSY",
			`SQLite credential store ${operation} gave up: ${this.location} stayed locked by another connection for ${waited} ms`,
			{ cause, details: { path: this.location, operation, attempts, waitedMs: waited } },
		);
	}
}
