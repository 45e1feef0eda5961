/**
 * One runtime's half of the "runtimes" section, run as its own process by `node` (tsx) or by `bun`:
 * the warm path and the SQLite hot path, each with a baseline measured in this same process (so the
 * ratios compare like with like), printed as one JSON line on stdout.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryStore } from "@authpool/core";
import { createSqliteStore } from "@authpool/store-sqlite";
import { baselines, warmStorage } from "./common";
import { type BenchResult, bench } from "./harness";

export interface RuntimeReport {
	runtime: string;
	results: Record<string, BenchResult>;
}

interface RawStatement {
	get(...params: unknown[]): unknown;
	run(...params: unknown[]): unknown;
}
interface RawDatabase {
	prepare(sql: string): RawStatement;
	exec(sql: string): unknown;
	close(): unknown;
}

/** The runtime's own SQLite library: what `@authpool/store-sqlite` runs on there. */
async function openRaw(path: string): Promise<{ db: RawDatabase; driver: string }> {
	if (process.versions.bun) {
		const specifier = "bun:sqlite";
		const { Database } = (await import(specifier)) as { Database: new (path: string) => RawDatabase };
		return { db: new Database(path), driver: "bun:sqlite" };
	}
	const Database = createRequire(import.meta.url)("better-sqlite3") as new (path: string) => RawDatabase;
	return { db: new Database(path), driver: "better-sqlite3" };
}

const dir = mkdtempSync(join(tmpdir(), "authpool-bench-runtime-"));
try {
	const results: Record<string, BenchResult> = {};
	const { asyncMapGet } = await baselines();
	results.asyncMapGet = asyncMapGet;

	const memory = await warmStorage(createMemoryStore(), 10);
	results.memorySession = await bench("memory, 10 rows, with session", () => memory.getApiKey("bench", "session-1"));
	results.memoryNoSession = await bench("memory, 10 rows, no session", () => memory.getApiKey("bench"));
	await memory.close();

	const { db, driver } = await openRaw(join(dir, "raw.db"));
	db.exec("PRAGMA journal_mode = WAL");
	db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT NOT NULL)");
	const insert = db.prepare("INSERT INTO t (id, data) VALUES (?, ?)");
	for (let i = 1; i <= 50; i += 1) insert.run(i, JSON.stringify({ access: `a${i}`, refresh: `r${i}`, expires: i }));
	const select = db.prepare("SELECT data FROM t WHERE id = ?");
	results.rawSelect = await bench(`raw ${driver} PK SELECT (sync)`, () => select.get(7), { iterations: 100_000 });
	db.close();

	const store = await createSqliteStore({ path: join(dir, "hot.db") });
	const sqlite = await warmStorage(store, 10);
	results.sqliteSession = await bench("sqlite, 10 rows, with session", () => sqlite.getApiKey("bench", "session-1"));
	results.sqliteNoSession = await bench("sqlite, 10 rows, no session", () => sqlite.getApiKey("bench"));
	await sqlite.close();
	await store.close();

	const runtime = process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.version}`;
	const report: RuntimeReport = { runtime, results };
	console.log(JSON.stringify(report));
} finally {
	rmSync(dir, { recursive: true, force: true });
}
