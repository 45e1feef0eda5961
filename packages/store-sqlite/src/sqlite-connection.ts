/**
 * The driver seam: the one connection shape every part of the store talks to, whichever SQLite
 * library is underneath. It is better-sqlite3's own API (the subset the store uses), so on Node the
 * better-sqlite3 `Database` is used as is, with no wrapper on the hot path; on Bun a thin adapter of
 * `bun:sqlite` provides the same shape (see `bun-sqlite-connection.ts`).
 */
import { type Dialect, type SqliteDatabase as KyselySqliteDatabase, SqliteDialect } from "kysely";

/** Result of a write statement. */
export interface SqliteRunResult {
	changes: number;
	lastInsertRowid: number | bigint;
}

/** A prepared statement (better-sqlite3's shape). */
export interface SqliteStatement {
	/** `true` when the statement returns rows. */
	readonly reader: boolean;
	run(...params: unknown[]): SqliteRunResult;
	/** The first row, or `undefined` when there is none. */
	get(...params: unknown[]): unknown;
	all(...params: unknown[]): unknown[];
	iterate(...params: unknown[]): IterableIterator<unknown>;
	/** Return only the first column of each row (sticky, as in better-sqlite3). */
	pluck(toggle?: boolean): this;
	/** Return each row as an array of its columns in select order (sticky, as in better-sqlite3). */
	raw(toggle?: boolean): this;
}

/** A SQLite transaction function built by {@link SqliteConnection.transaction}. */
export interface SqliteTransaction<T> {
	/** Run inside `BEGIN IMMEDIATE ... COMMIT` (rolled back when it throws). */
	immediate(): T;
}

/** An open connection (better-sqlite3's shape). */
export interface SqliteConnection {
	/** The file the connection opened (`":memory:"` or `""` for a private database). */
	readonly name: string;
	readonly memory: boolean;
	readonly open: boolean;
	readonly inTransaction: boolean;
	prepare(sql: string): SqliteStatement;
	/** Run one or more statements without results. */
	exec(sql: string): unknown;
	/** `PRAGMA <source>`: every row, or with `simple` the first column of the first row. */
	pragma(source: string, options?: { simple?: boolean }): unknown;
	transaction<T>(fn: () => T): SqliteTransaction<T>;
	close(): unknown;
}

/** Which library a connection runs on. */
export type SqliteDriverName = "better-sqlite3" | "bun:sqlite";

/**
 * Kysely's SQLite dialect over any {@link SqliteConnection}. Kysely binds parameters as one array;
 * both drivers accept positional values spread, so each call spreads them. Kysely never closes the
 * connection: the store does (an injected one belongs to the caller).
 */
export function createSqliteDialect(connection: () => SqliteConnection): Dialect {
	const database: KyselySqliteDatabase = {
		close() {},
		prepare(sql) {
			const statement = connection().prepare(sql);
			return {
				reader: statement.reader,
				all: (parameters) => statement.all(...parameters),
				run: (parameters) => statement.run(...parameters),
				iterate: (parameters) => statement.iterate(...parameters),
			};
		},
	};
	return new SqliteDialect({ database });
}
