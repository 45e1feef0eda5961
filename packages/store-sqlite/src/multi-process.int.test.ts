/**
 * Four real OS processes × 50 concurrent callers on one SQLite file, against a token endpoint that
 * rotates the refresh token on every use and rejects a reused one, with access tokens living 2 s.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrafficResult } from "../test/pool-worker";
import { grantCredential, PROVIDER } from "../test/rotating-plugin";
import { type RotatingTokenServer, startRotatingTokenServer } from "../test/rotating-token-server";
import { spawnWorker, type WorkerHandle } from "../test/spawn-worker";
import { createSqliteStore, type SqliteCredentialStore } from "./index";

const PROCESSES = 4;
const CALLERS = 50;
const ACCESS_TTL_MS = 2_000;
/** Refreshes happen 1 s before the real expiry (see rotating-plugin.ts). */
const MIN_TOKEN_USE_MS = 1_000;
const TRAFFIC_MS = 12_000;
const ACCOUNTS = ["acct-a", "acct-b"];

describe("many processes on one file", () => {
	let dir: string;
	let server: RotatingTokenServer;
	let store: SqliteCredentialStore;
	const workers: WorkerHandle[] = [];

	beforeAll(async () => {
		dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-mp-"));
		server = await startRotatingTokenServer(ACCESS_TTL_MS);
	});

	afterAll(async () => {
		for (const worker of workers) await worker.kill();
		await store?.close();
		await server.close();
		rmSync(dir, { recursive: true, force: true });
	});

	it(`${PROCESSES} processes × ${CALLERS} callers: one refresh per expiry, no disable, no stale token, no SQLITE_BUSY`, async () => {
		const dbPath = join(dir, "auth.db");
		store = await createSqliteStore({ path: dbPath });
		for (const account of ACCOUNTS) await store.rows.insert(PROVIDER, grantCredential(server.addAccount(account)));

		const started = Date.now();
		for (let index = 0; index < PROCESSES; index++) {
			workers.push(
				spawnWorker({
					mode: "traffic",
					dbPath,
					serverUrl: server.url,
					worker: `worker-${index}`,
					durationMs: TRAFFIC_MS,
					callers: CALLERS,
				}),
			);
		}
		const results = (await Promise.all(workers.map((worker) => worker.next("traffic")))) as unknown as TrafficResult[];
		const elapsed = Date.now() - started;

		for (const result of results) {
			expect(result.errors, result.worker).toEqual([]);
			expect(result.busyErrors, result.worker).toBe(0);
			expect(result.noKey, result.worker).toBe(0);
			expect(result.rejected, result.worker).toBe(0);
			expect(result.verified, result.worker).toBeGreaterThan(CALLERS);
		}
		// The server saw every handed-out token and judged none expired or unknown.
		expect(server.rejectedTokens).toEqual([]);
		expect(server.verifiedCount()).toBe(results.reduce((sum, result) => sum + result.verified, 0));

		// A second refresh of one expiry would have reused a rotated refresh token: invalid_grant.
		expect(server.refreshes.filter((refresh) => refresh.outcome !== "rotated")).toEqual([]);
		for (const account of ACCOUNTS) {
			const rotations = server.rotations(account);
			// Several 2 s generations went by, each refreshed once, never early.
			expect(rotations, account).toBeGreaterThanOrEqual(Math.floor(TRAFFIC_MS / ACCESS_TTL_MS) - 1);
			expect(rotations, account).toBeLessThanOrEqual(Math.ceil(elapsed / MIN_TOKEN_USE_MS) + 1);
		}

		expect(await store.rows.listDisabled()).toEqual([]);
		const active = await store.rows.listActive(PROVIDER);
		expect(active).toHaveLength(ACCOUNTS.length);
		// The stored rows hold the latest rotation of each account (nothing lost, nothing stale).
		for (const row of active)
			expect(row.version).toBe(1 + server.rotations(String((row.credential as { accountId?: string }).accountId)));

		const check = new BetterSqlite3(dbPath, { readonly: true });
		try {
			expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
		} finally {
			check.close();
		}
	}, 45_000);
});
