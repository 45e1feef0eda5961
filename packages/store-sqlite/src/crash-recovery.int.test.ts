/**
 * SIGKILL real OS processes in the middle of a refresh and of a write burst: the file stays intact,
 * no committed row is lost, and the surviving processes carry on (taking over an orphaned lease once
 * it expires).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { integrity } from "../test/integrity";
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

/** The server's refresh log, one line per request, for failure messages. */
function refreshLog(server: RotatingTokenServer): string {
	const start = server.refreshes[0]?.at ?? 0;
	return server.refreshes.map((r) => `+${r.at - start}ms ${r.account} ${r.worker} …${r.token} ${r.outcome}`).join("\n");
}

describe("SIGKILL", () => {
	let server: RotatingTokenServer | undefined;

	afterEach(async () => {
		await server?.close();
		server = undefined;
	});

	it("in the middle of refreshes, repeatedly: peers take over each orphaned lease once it expires, and nobody loses the account", async () => {
		const dbPath = join(dir, "auth.db");
		server = await startRotatingTokenServer(2_000);
		// Kill the sender of the first N refreshes of each account, before the token is consumed.
		const killsPerAccount: Record<string, number> = { "acct-a": 2, "acct-b": 1 };
		const workerCount = 5;
		// Short leases so two orphaned ones in a row expire within the run. The upstream bound stays below
		// the lease and well above this loaded machine's worst local round trip: a refresh whose response
		// is lost after the server consumed the token is the one loss no client can prevent.
		const leaseTtlMs = 2_000;
		const refreshTimeoutMs = 1_500;
		const store = await createSqliteStore({ path: dbPath });
		for (const account of Object.keys(killsPerAccount)) {
			await store.rows.insert(PROVIDER, grantCredential(server.addAccount(account)));
		}

		const byName = new Map<string, WorkerHandle>();
		/** worker → number of refresh requests the server had seen when it was killed. */
		const killedAt = new Map<string, number>();
		const drops = new Map<string, number>();
		server.onRefresh = async ({ account, worker }) => {
			if (!account || !worker) return "process";
			// A request racing its sender's kill is never processed: it must not spend a token nobody will keep.
			if (killedAt.has(worker)) return "drop";
			if ((drops.get(account) ?? 0) >= (killsPerAccount[account] ?? 0)) return "process";
			// A process whose OTHER refresh the server answered a moment ago may not have persisted it yet;
			// killing it then loses that rotation (the provider already spent the old token) — the one loss
			// no client can prevent. Victims here hold only the refresh being dropped.
			const answeredRecently = server!.refreshes.some(
				(entry) => entry.worker === worker && entry.outcome === "rotated" && Date.now() - entry.at < 1_500,
			);
			if (answeredRecently) return "process";
			drops.set(account, (drops.get(account) ?? 0) + 1);
			killedAt.set(worker, server!.refreshes.length);
			await byName.get(worker)?.kill();
			return "drop";
		};
		for (let index = 0; index < workerCount; index++) {
			const name = `worker-${index}`;
			const handle = spawnWorker({
				mode: "traffic",
				dbPath,
				serverUrl: server.url,
				worker: name,
				// Room for two orphaned leases in a row to expire and be taken over.
				durationMs: 10_000,
				callers: 10,
				leaseTtlMs,
				refreshTimeoutMs,
				sessions: false,
			});
			byName.set(name, handle);
			workers.push(handle);
		}

		const outcomes = await Promise.all(
			[...byName].map(async ([name, handle]) => {
				try {
					return (await handle.next("traffic")) as unknown as TrafficResult;
				} catch (error) {
					if (killedAt.has(name)) return null;
					throw error;
				}
			}),
		);
		const results = outcomes.filter((result): result is TrafficResult => result !== null);
		const expectedKills = Object.values(killsPerAccount).reduce((a, b) => a + b, 0);

		const log = refreshLog(server);
		expect(killedAt.size, log).toBe(expectedKills);
		expect(results.length).toBe(workerCount - expectedKills);
		for (const result of results) {
			expect(result.errors, result.worker).toEqual([]);
			expect(result.rejected, result.worker).toBe(0);
			expect(result.verified, result.worker).toBeGreaterThan(0);
		}
		expect(server.rejectedTokens).toEqual([]);
		expect(
			server.refreshes.filter((refresh) => refresh.outcome === "invalid_grant"),
			log,
		).toEqual([]);
		for (const [account, kills] of Object.entries(killsPerAccount)) {
			const entries = server.refreshes
				.map((refresh, index) => ({ ...refresh, index }))
				.filter((refresh) => refresh.account === account);
			expect(drops.get(account), account).toBe(kills);
			// Requests from a process already killed are dropped unprocessed; the rest were sent by live ones.
			const live = entries.filter((refresh) => (killedAt.get(String(refresh.worker)) ?? Infinity) >= refresh.index);
			// Each killed refresh is followed by a live process's refresh with the SAME, unconsumed token
			// (taken over once the orphaned lease expired), which is either rotated or the next kill.
			live.forEach((refresh, position) => {
				if (refresh.outcome !== "dropped") return;
				const takeover = live[position + 1];
				expect(takeover?.token, `${account}: next refresh after a kill\n${log}`).toBe(refresh.token);
				expect(takeover?.outcome, account).toMatch(/^(rotated|dropped)$/);
			});
			expect(
				entries.some((refresh) => refresh.outcome === "rotated"),
				account,
			).toBe(true);
		}

		expect(await store.rows.listDisabled()).toEqual([]);
		expect(await store.rows.listActive(PROVIDER)).toHaveLength(Object.keys(killsPerAccount).length);
		await store.close();
		expect(integrity(dbPath)).toBe("ok");
	}, 45_000);

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
