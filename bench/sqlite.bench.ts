/**
 * SQLite benchmarks: the hot path next to one raw better-sqlite3 primary-key SELECT, throughput of
 * 1/2/4 processes on one file, and cold open + migrate + load of 1,000 credentials.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AuthStorage } from "@authpool/core";
import { createSqliteStore } from "@authpool/store-sqlite";
import Database from "better-sqlite3";
import { section, warmStorage } from "./common";
import { type BenchResult, bench, table } from "./harness";

const here = fileURLToPath(new URL(".", import.meta.url));

function tempDir(): string {
	return mkdtempSync(join(tmpdir(), "authpool-bench-"));
}

/** One raw better-sqlite3 PK SELECT on a WAL file: the budget a warm getApiKey must beat. */
async function rawSelectBaseline(dir: string): Promise<BenchResult> {
	const db = new Database(join(dir, "raw.db"));
	db.pragma("journal_mode = WAL");
	db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT NOT NULL)");
	const insert = db.prepare("INSERT INTO t (id, data) VALUES (?, ?)");
	for (let i = 1; i <= 50; i += 1) insert.run(i, JSON.stringify({ access: `a${i}`, refresh: `r${i}`, expires: i }));
	const select = db.prepare("SELECT data FROM t WHERE id = ?");
	const result = await bench("raw better-sqlite3 PK SELECT (sync)", () => select.get(7), { iterations: 100_000 });
	db.close();
	return result;
}

section("sqlite: getApiKey hot path vs one raw PK SELECT", async () => {
	const dir = tempDir();
	try {
		const baseline = await rawSelectBaseline(dir);
		const results: BenchResult[] = [baseline];
		for (const rows of [1, 3, 10, 50]) {
			const store = await createSqliteStore({ path: join(dir, `hot-${rows}.db`) });
			const storage = await warmStorage(store, rows);
			results.push(await bench(`sqlite, ${rows} rows, with session`, () => storage.getApiKey("bench", "session-1")));
			results.push(await bench(`sqlite, ${rows} rows, no session`, () => storage.getApiKey("bench")));
			await storage.close();
			await store.close();
		}
		return table("sqlite: getApiKey hot path (fresh OAuth) against one raw PK SELECT", results, baseline);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

interface Worker {
	ready: Promise<void>;
	go(): void;
	ops: Promise<number>;
}

/** Spawn a worker that warms up, reports `ready`, and starts only on `go` (the barrier). */
function startWorker(path: string, durationMs: number): Worker {
	const child = spawn(
		process.execPath,
		["--conditions=@authpool/source", "--import", "tsx", join(here, "sqlite-worker.ts"), path, String(durationMs)],
		{ stdio: ["pipe", "pipe", "inherit"] },
	);
	let out = "";
	let markReady: () => void = () => {};
	const ready = new Promise<void>((resolve) => {
		markReady = resolve;
	});
	child.stdout.on("data", (chunk) => {
		out += chunk;
		if (out.includes("ready")) markReady();
	});
	const ops = new Promise<number>((resolve, reject) => {
		child.on("error", reject);
		child.on("exit", (code) => {
			const count = Number(out.trim().split("\n").pop());
			if (code === 0 && Number.isFinite(count)) resolve(count);
			else reject(new Error(`worker exited ${code}: ${out}`));
		});
	});
	return { ready, ops, go: () => child.stdin.end("go\n") };
}

section("sqlite: processes on one file", async () => {
	const dir = tempDir();
	try {
		const path = join(dir, "procs.db");
		const store = await createSqliteStore({ path });
		const storage = await warmStorage(store, 10);
		await storage.close();
		await store.close();
		const durationMs = 2_000;
		const lines = [
			"\n## sqlite: throughput of N processes on one file (getApiKey, 10 rows, sessions; started together)",
			"",
		];
		lines.push("| processes | ops/s of each process | total ops/s | × one process |", "|---:|---|---:|---:|");
		let single = 0;
		for (const n of [1, 2, 4]) {
			const workers = Array.from({ length: n }, () => startWorker(path, durationMs));
			// The barrier: nobody starts measuring until every process is warm.
			await Promise.all(workers.map((worker) => worker.ready));
			for (const worker of workers) worker.go();
			const counts = await Promise.all(workers.map((worker) => worker.ops));
			const each = counts.map((count) => (count / (durationMs / 1000)).toFixed(0));
			const perSecond = counts.reduce((a, b) => a + b, 0) / (durationMs / 1000);
			if (n === 1) single = perSecond;
			lines.push(`| ${n} | ${each.join(" + ")} | ${perSecond.toFixed(0)} | ${(perSecond / single).toFixed(2)} |`);
		}
		lines.push("", "(this machine has 2 cores: 4 processes share them)");
		return lines.join("\n");
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

section("sqlite: cold open + migrate + load 1,000 credentials", async () => {
	const dir = tempDir();
	try {
		const path = join(dir, "cold.db");
		{
			const store = await createSqliteStore({ path });
			const storage = new AuthStorage(store, { env: {} });
			await storage.reload();
			await storage.set(
				"bench",
				Array.from({ length: 1000 }, (_, i) => ({
					type: "oauth" as const,
					access: `access-${i}`,
					refresh: `refresh-${i}`,
					expires: Date.now() + 3_600_000,
					email: `user${i}@example.com`,
				})),
			);
			await storage.close();
			await store.close();
		}
		const fresh = await bench(
			"open + migrate an empty file",
			async () => {
				const file = join(dir, `empty-${Math.random()}.db`);
				const store = await createSqliteStore({ path: file });
				await store.close();
			},
			{ iterations: 5, batches: 5, warmup: 1 },
		);
		const load = await bench(
			"open existing file + reload 1,000 credentials",
			async () => {
				const store = await createSqliteStore({ path });
				const storage = new AuthStorage(store, { env: {} });
				await storage.reload();
				await storage.close();
				await store.close();
			},
			{ iterations: 5, batches: 5, warmup: 1 },
		);
		const raw = await bench("raw better-sqlite3 open + close", () => new Database(path).close(), {
			iterations: 20,
			batches: 5,
			warmup: 2,
		});
		return table("sqlite: cold start", [fresh, load], raw);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});
