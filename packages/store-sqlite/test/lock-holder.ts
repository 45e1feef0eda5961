/**
 * Test helper process: open the database file, hold `BEGIN EXCLUSIVE` for `holdMs`, then commit.
 * Reports `locked` once the lock is held and `released` right after the commit.
 */
import BetterSqlite3 from "better-sqlite3";

const [path, holdMs] = [process.argv[2] ?? "", Number(process.argv[3] ?? "0")];

const db = new BetterSqlite3(path, { timeout: 5_000 });
db.pragma("journal_mode = WAL");
db.exec("BEGIN EXCLUSIVE");
process.send?.({ type: "locked" });
setTimeout(() => {
	db.exec("COMMIT");
	db.close();
	process.send?.({ type: "released" }, () => process.exit(0));
}, holdMs);
