/**
 * `bun:sqlite` behind the store's connection shape (better-sqlite3's API). Bun's `Database` is close
 * already: statements have `run` → `{ changes, lastInsertRowid }`, `get`, `all`, `iterate`, `reader`,
 * transactions have `.immediate()`, errors carry SQLite's `code` (`SQLITE_BUSY`, ...). What differs is
 * bridged here: `get` answers `null` for no row (better-sqlite3: `undefined`), there is no `pluck()`,
 * `raw()` (Bun's `values()` gives the arrays), `pragma()`, `name`, `memory` or `open`.
 *
 * Nothing here imports `bun:sqlite`: the module is loaded by the runtime check in `sqlite-driver.ts`,
 * so Node (and bundlers targeting it) never see the specifier.
 */
import type { SqliteConnection, SqliteRunResult, SqliteStatement, SqliteTransaction } from "./sqlite-connection";

/** The members of a `bun:sqlite` `Statement` the adapter uses. */
export interface BunStatement {
	readonly reader?: boolean;
	readonly columnNames: string[];
	run(...params: unknown[]): SqliteRunResult;
	get(...params: unknown[]): unknown;
	all(...params: unknown[]): unknown[];
	values(...params: unknown[]): unknown[][];
	iterate(...params: unknown[]): IterableIterator<unknown>;
}

/** The members of a `bun:sqlite` `Database` the adapter uses. */
export interface BunDatabase {
	readonly filename: string;
	readonly inTransaction: boolean;
	prepare(sql: string): BunStatement;
	exec(sql: string): unknown;
	transaction<T>(fn: () => T): SqliteTransaction<T>;
	close(throwOnError?: boolean): unknown;
}

/** `bun:sqlite`'s `Database` constructor (only the options the store passes). */
export type BunSqliteDatabaseConstructor = new (
	filename: string,
	options: { create?: boolean; readwrite?: boolean; strict?: boolean },
) => BunDatabase;

function firstColumn(row: unknown): unknown {
	if (row === null || row === undefined) return undefined;
	for (const key in row as Record<string, unknown>) return (row as Record<string, unknown>)[key];
	return undefined;
}

class BunSqliteStatement implements SqliteStatement {
	readonly #statement: BunStatement;
	#pluck = false;
	#raw = false;

	constructor(statement: BunStatement) {
		this.#statement = statement;
	}

	get reader(): boolean {
		return this.#statement.reader ?? this.#statement.columnNames.length > 0;
	}

	run(...params: unknown[]): SqliteRunResult {
		return this.#statement.run(...params);
	}

	get(...params: unknown[]): unknown {
		if (this.#raw) return this.#statement.values(...params)[0];
		const row = this.#statement.get(...params);
		if (row === null) return undefined;
		return this.#pluck ? firstColumn(row) : row;
	}

	all(...params: unknown[]): unknown[] {
		if (this.#raw) return this.#statement.values(...params);
		if (!this.#pluck) return this.#statement.all(...params);
		// `values()` keeps every column by position (same-named columns would collapse in objects).
		return this.#statement.values(...params).map((row) => row[0]);
	}

	*iterate(...params: unknown[]): IterableIterator<unknown> {
		if (this.#raw) {
			yield* this.#statement.values(...params);
			return;
		}
		for (const row of this.#statement.iterate(...params)) yield this.#pluck ? firstColumn(row) : row;
	}

	pluck(toggle = true): this {
		this.#pluck = toggle;
		if (toggle) this.#raw = false;
		return this;
	}

	raw(toggle = true): this {
		this.#raw = toggle;
		if (toggle) this.#pluck = false;
		return this;
	}
}

/** A `bun:sqlite` database with better-sqlite3's API. The adapter owns nothing: `close()` closes `db`. */
export class BunSqliteConnection implements SqliteConnection {
	readonly db: BunDatabase;
	#open = true;

	constructor(db: BunDatabase) {
		this.db = db;
	}

	get name(): string {
		return this.db.filename;
	}

	get memory(): boolean {
		const name = this.db.filename;
		return name === "" || name === ":memory:";
	}

	get open(): boolean {
		return this.#open;
	}

	get inTransaction(): boolean {
		return this.db.inTransaction;
	}

	prepare(sql: string): SqliteStatement {
		return new BunSqliteStatement(this.db.prepare(sql));
	}

	exec(sql: string): unknown {
		return this.db.exec(sql);
	}

	pragma(source: string, options: { simple?: boolean } = {}): unknown {
		const statement = this.prepare(`PRAGMA ${source}`);
		return options.simple ? statement.pluck().get() : statement.all();
	}

	transaction<T>(fn: () => T): SqliteTransaction<T> {
		return this.db.transaction(fn);
	}

	close(): void {
		if (!this.#open) return;
		this.#open = false;
		this.db.close();
	}
}

/** `true` when `value` looks like a `bun:sqlite` `Database` (and not a better-sqlite3 one). */
export function isBunSqliteDatabase(value: unknown): value is BunDatabase {
	if (typeof value !== "object" || value === null) return false;
	const candidate = value as { filename?: unknown; query?: unknown; prepare?: unknown; pragma?: unknown };
	return (
		typeof candidate.filename === "string" &&
		typeof candidate.query === "function" &&
		typeof candidate.prepare === "function" &&
		typeof candidate.pragma !== "function"
	);
}
