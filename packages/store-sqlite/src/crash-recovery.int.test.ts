/**
 * SIGKILL real OS processes in the middle of a refresh and of a write burst: the file stays intact,
 * no committed row is lost, and the surviving processes carry on (taking over an orphaned lease once
 * it expires).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TrafficResult } from "../test/pool-worker";
import { grantCredential, PROVIDER } from "../test/rotating-plugin";
import { type RotatingTokenServer, startRotatingTokenServer } from "../test/rotating-token-server";
import { spawnWorker, type WorkerHandle } from "../test/spawn-worker";
import { createSqliteStore } from "./index";

let dir: string;
const workers: WorkerHandle[] = [];

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-crash-"));
});

afterEach(async () => {
	for (const worker of workers.splice(0)) await worker.kill();
	rmSync(dir, { recursive: true, force: true });
});

function integrity(path: string): unknown {
	const db = new BetterSqlite3(path);
	try {
		return db.pragma("integrity_check", { simple: true });
	} finally {
		db.close();
	}
}

describe("SIGKILL", () => {
	let server: RotatingTokenServer | undefined;

	afterEach(async () => {
		await server?.close();
		server = undefined;
	});

	it("in the middle of a refresh: peers wait out the orphaned lease, take it over, and nobody loses the account", async () => {
		const dbPath = join(dir, "auth.db");
		server = await startRotatingTokenServer(2_000);
		const accounts = ["acct-a", "acct-b"];
		const store = await createSqliteStore({ path: dbPath });
		for (const account of accounts) await store.rows.insert(PROVIDER, grantCredential(server.addAccount(account)));

		const byName = new Map<string, WorkerHandle>();
		const killed = new Set<string>();
		const dropped = new Set<string>();
		// The first refresh of each account: kill the process that sent it, before the token is consumed.
		server.onRefresh = async ({ account, worker }) => {
			if (!account || dropped.has(account) || !worker) return "process";
			dropped.add(account);
			killed.add(worker);
			await byName.get(worker)?.kill();
			return "drop";
		};
		for (let index = 0; index < 4; index++) {
			const name = `worker-${index}`;
			const handle = spawnWorker({
				mode: "traffic",
				dbPath,
				serverUrl: server.url,
				worker: name,
				// Longer than the 15 s refresh lease a killed holder leaves behind.
				durationMs: 22_000,
				callers: 20,
			});
			byName.set(name, handle);
			workers.push(handle);
		}

		const outcomes = await Promise.all(
			[...byName].map(async ([name, handle]) => {
				try {
					return (await handle.next("traffic")) as unknown as TrafficResult;
				} catch (error) {
					if (killed.has(name)) return null;
					throw error;
				}
			}),
		);
		const results = outcomes.filter((result): result is TrafficResult => result !== null);

		expect(killed.size).toBeGreaterThanOrEqual(1);
		expect(results.length).toBe(4 - killed.size);
		expect(4 - killed.size, "live processes left").toBeGreaterThanOrEqual(2);
		for (const result of results) {
			expect(result.errors, result.worker).toEqual([]);
			expect(result.rejected, result.worker).toBe(0);
			expect(result.verified, result.worker).toBeGreaterThan(0);
		}
		expect(server.rejectedTokens).toEqual([]);
		expect(server.refreshes.filter((refresh) => refresh.outcome === "invalid_grant")).toEqual([]);
		for (const account of accounts) {
			const entries = server.refreshes.filter((refresh) => refresh.account === account);
			const drop = entries.findIndex((refresh) => refresh.outcome === "dropped");
			expect(drop, account).toBeGreaterThanOrEqual(0);
			// The orphaned lease was taken over by a live process, which refreshed with the unconsumed token.
			const takeover = entries[drop + 1];
			expect(takeover?.outcome, account).toBe("rotated");
			expect(killed.has(String(takeover?.worker)), account).toBe(false);
		}

		expect(await store.rows.listDisabled()).toEqual([]);
		expect(await store.rows.listActive(PROVIDER)).toHaveLength(accounts.length);
		await store.close();
		expect(integrity(dbPath)).toBe("ok");
	}, 40_000);

	it("in the middle of write bursts, repeatedly: integrity holds, no committed row is lost, the survivor carries on", async () => {
		const dbPath = join(dir, "auth.db");
		const survivor = spawnWorker({ mode: "writes", dbPath, worker: "survivor" });
		workers.push(survivor);
		await survivor.next("ready");
		const committedOf = (handle: WorkerHandle) =>
			handle.messages.filter((message) => message.type === "committed").map((message) => Number(message.id));
		const committed: number[] = [];

		for (let round = 0; round < 5; round++) {
			const victim = spawnWorker({ mode: "writes", dbPath, worker: `victim-${round}` });
			workers.push(victim);
			await vi.waitFor(() => expect(committedOf(victim).length).toBeGreaterThanOrEqual(10 + round * 7), {
				timeout: 10_000,
				interval: 2,
			});
			await victim.kill();
			committed.push(...committedOf(victim));
			expect(integrity(dbPath), `round ${round}`).toBe("ok");
		}
		const beforeLastKill = committedOf(survivor).length;
		await vi.waitFor(() => expect(committedOf(survivor).length).toBeGreaterThan(beforeLastKill + 10), {
			timeout: 10_000,
			interval: 2,
		});
		await survivor.kill();
		committed.push(...committedOf(survivor));

		expect(integrity(dbPath)).toBe("ok");
		const store = await createSqliteStore({ path: dbPath });
		try {
			for (const id of committed) {
				const row = await store.rows.get(id);
				expect(row, `committed row ${id}`).not.toBeNull();
				expect(String((row!.credential as { key: string }).key)).toMatch(/-v2$/);
			}
			// Still writable after all the kills (no stale lock, no half transaction).
			await store.rows.insert("burst", { type: "api_key", key: "after-the-storm" });
			expect(await store.listCorruptRows()).toEqual([]);
		} finally {
			await store.close();
		}
	}, 40_000);
});
