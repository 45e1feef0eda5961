/** Test helper: SQLite's own `PRAGMA integrity_check` of a database file ("ok" when intact). */
import BetterSqlite3 from "better-sqlite3";

export function integrity(path: string): unknown {
	const db = new BetterSqlite3(path);
	try {
		return db.pragma("integrity_check", { simple: true });
	} finally {
		db.close();
	}
}
