/**
 * What every part of the SQLite store shares: the connection, a prepared-statement cache, the
 * clock and logger, the closed flag, and the one way to write (a short `BEGIN IMMEDIATE`
 * transaction, retried on the BUSY family).
 */
import { AuthpoolError, type Clock, type Logger } from "@authpool/core";
import type BetterSqlite3 from "better-sqlite3";
import { backoffDelayMs, delay, isSqliteBusyError } from "./sqlite-busy";

/** Retries of one operation that still hit BUSY after waiting out `busy_timeout`. */
const OPERATION_ATTEMPTS = 3;
const OPERATION_RETRY_BASE_MS = 20;

export interface WriteOptions {
	/** Commit with `synchronous=FULL` even when the connection runs `NORMAL` (credential rows). */
	durable?: boolean;
}

export class SqliteContext {
	readonly db: BetterSqlite3.Database;
	readonly clock: Clock;
	readonly logger: Logger;
	readonly location: string;
	readonly #relaxed: boolean;
	readonly #statements = new Map<string, BetterSqlite3.Statement>();
	#closed = false;
	/** Set by local writes: `data_version` only moves for other connections' commits. */
	localChange = true;
	/** Called after every local commit (the change feed notifies its listeners from here). */
	afterWrite: () => void = () => {};

	constructor(db: BetterSqlite3.Database, clock: Clock, logger: Logger, location: string, synchronous: string) {
		this.db = db;
		this.clock = clock;
		this.logger = logger;
		this.location = location;
		this.#relaxed = synchronous !== "FULL";
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
	statement(sql: string): BetterSqlite3.Statement {
		let statement = this.#statements.get(sql);
		if (!statement) {
			statement = this.db.prepare(sql);
			this.#statements.set(sql, statement);
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
		return this.#withBusyRetry(operation, fn);
	}

	/**
	 * `fn` inside `BEGIN IMMEDIATE`: the write lock is taken up front, so the transaction never has to
	 * upgrade a read snapshot (which fails with BUSY_SNAPSHOT without waiting). Keep `fn` short and
	 * synchronous.
	 */
	async write<T>(operation: string, fn: () => T, options: WriteOptions = {}): Promise<T> {
		const transaction = this.db.transaction(fn);
		const durable = options.durable === true && this.#relaxed;
		const result = await this.#withBusyRetry(operation, () => {
			// `exec`, not a prepared statement: SQLite applies this pragma when it is compiled, so a
			// prepared copy would set the level once, at prepare time, and never again.
			if (durable) this.db.exec("PRAGMA synchronous = FULL");
			try {
				return transaction.immediate();
			} finally {
				this.localChange = true;
				if (durable) this.db.exec("PRAGMA synchronous = NORMAL");
			}
		});
		this.afterWrite();
		return result;
	}

	async #withBusyRetry<T>(operation: string, fn: () => T): Promise<T> {
		for (let attempt = 0; ; attempt++) {
			this.assertOpen(operation);
			try {
				return fn();
			} catch (error) {
				if (!isSqliteBusyError(error) || attempt >= OPERATION_ATTEMPTS - 1) throw this.fail(operation, error);
				this.logger.debug("sqlite store busy, retrying", { operation, attempt: attempt + 1 });
				await delay(backoffDelayMs(attempt, OPERATION_RETRY_BASE_MS));
			}
		}
	}
}
