/**
 * Test helper: a better-sqlite3 connection whose statements count their executions, so tests can
 * prove what the store ran (e.g. "the hot path wrote nothing", "no row was read").
 */
import BetterSqlite3 from "better-sqlite3";

export interface CountedStatement {
	sql: string;
	/** `get`/`all`/`run`/`iterate` */
	method: string;
}

export interface CountingDatabase {
	db: BetterSqlite3.Database;
	/** Every statement execution since the last `reset()`. */
	readonly executed: CountedStatement[];
	reset(): void;
	/** Executions that can change the database (anything but SELECT / read-only PRAGMA). */
	writes(): CountedStatement[];
}

const METHODS = ["get", "all", "run", "iterate"] as const;

function isWrite(sql: string): boolean {
	const text = sql.trim().toUpperCase();
	if (text.startsWith("SELECT")) return false;
	if (text.startsWith("PRAGMA")) return text.includes("=");
	return true;
}

/** Open `path` and wrap `prepare` so every statement it returns is counted. */
export function openCountingDatabase(path: string): CountingDatabase {
	const db = new BetterSqlite3(path);
	const executed: CountedStatement[] = [];
	const prepare = db.prepare.bind(db);
	db.prepare = ((sql: string) => {
		const statement = prepare(sql);
		for (const method of METHODS) {
			const original = (statement[method] as (...args: unknown[]) => unknown).bind(statement);
			(statement as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
				executed.push({ sql, method });
				return original(...args);
			};
		}
		// `pluck()`/`raw()` return the same statement object, so the wrappers stay in place.
		return statement;
	}) as typeof db.prepare;
	return {
		db,
		executed,
		reset() {
			executed.length = 0;
		},
		writes() {
			return executed.filter((entry) => isWrite(entry.sql));
		},
	};
}
