/**
 * The refresh soak: 4 OS processes on one SQLite file against a token server that rotates on every use,
 * refuses any reused token, and answers some refreshes only after the client stopped waiting — plus
 * SIGKILLs of processes that hold no uncommitted rotation (the server holds new token requests while the
 * test picks a victim, so the pick is exact, not timed). Afterwards: no refresh token was presented twice,
 * no row was disabled, the file is intact.
 *
 * `npm test` runs it for 15 s; `pnpm test:soak` for 60 s (`AUTHPOOL_SOAK_MS`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { integrity } from "../test/integrity";
import type { TrafficResult } from "../test/pool-worker";
import { grantCredential, PROVIDER } from "../test/rotating-plugin";
import { type RotatingTokenServer, startRotatingTokenServer } from "../test/rotating-token-server";
import { spawnWorker, type WorkerHandle } from "../test/spawn-worker";
import { createSqliteStore } from "./index";

const SOAK_MS = Number(process.env.AUTHPOOL_SOAK_MS ?? 15_000);
const PROCESSES = 4;
const CALLERS = 20;
const ACCESS_TTL_MS = 2_000;
/** The client stops waiting after this; every third refresh is answered only after LATE_ANSWER_MS. */
const REFRESH_TIMEOUT_MS = 300;
const LATE_ANSWER_MS = 700;
const LEASE_TTL_MS = 2_000;
const KILL_EVERY_MS = 3_000;
const ACCOUNTS = ["acct-a", "acct-b", "acct-c"];

describe("refresh soak", () => {
	let dir: string;
	let server: RotatingTokenServer;
	const workers: WorkerHandle[] = [];

	beforeAll(async () => {
		dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-soak-"));
		server = await startRotatingTokenServer(ACCESS_TTL_MS);
	});

	afterAll(async () => {
		for (const worker of workers) await worker.kill();
		await server.close();
		rmSync(dir, { recursive: true, force: true });
	});

	it(
		`${PROCESSES} processes, late answers and SIGKILLs for ${SOAK_MS} ms: no token presented twice, nothing disabled`,
		async () => {
			const dbPath = join(dir, "auth.db");
			const store = await createSqliteStore({ path: dbPath });
			for (const account of ACCOUNTS) await store.rows.insert(PROVIDER, grantCredential(server.addAccount(account)));
			server.answerDelayMs = ({ index }) => (index % 3 === 2 ? LATE_ANSWER_MS : 0);

			const deadline = Date.now() + SOAK_MS;
			let spawned = 0;
			const live = new Map<string, WorkerHandle>();
			const pending = new Map<string, Promise<Record<string, unknown>>>();
			const spawn = () => {
				const name = `worker-${spawned++}`;
				const handle = spawnWorker({
					mode: "traffic",
					dbPath,
					serverUrl: server.url,
					worker: name,
					durationMs: Math.max(1_000, deadline - Date.now()),
					callers: CALLERS,
					sessions: false,
					leaseTtlMs: LEASE_TTL_MS,
					refreshTimeoutMs: REFRESH_TIMEOUT_MS,
				});
				workers.push(handle);
				live.set(name, handle);
				pending.set(name, handle.next("traffic"));
			};
			for (let index = 0; index < PROCESSES; index++) spawn();

			// While a victim is picked and killed, token requests wait before the server consumes anything;
			// a request from a killed process is then dropped unconsumed, as its socket is gone.
			let gate: Promise<void> | undefined;
			const killed = new Set<string>();
			server.onRefresh = async ({ worker }) => {
				while (gate) await gate;
				return worker !== undefined && killed.has(worker) ? "drop" : "process";
			};
			// A process may die only when every rotation it was answered is committed: the file holds the
			// newest refresh token of each account it refreshed last. Killing it earlier would destroy the
			// only copy of a live token (the one loss no client can prevent, measured below).
			// Read once per pick, while token requests are held: a commit landing after the read only makes
			// a process look uncommitted (spared), never the other way round.
			const storedRefreshTokens = async () =>
				new Map(
					(await store.rows.listActive(PROVIDER)).map((row) => [
						row.credential.type === "oauth" ? row.credential.accountId : undefined,
						row.credential.type === "oauth" ? row.credential.refresh : undefined,
					]),
				);
			const committedBy = (name: string, stored: Map<string | undefined, string | undefined>) =>
				ACCOUNTS.every((account) => {
					const grant = server.latestGrant(account);
					return grant?.worker !== name || stored.get(account) === grant.refresh;
				});

			let kills = 0;
			const killLog: Array<[string, number]> = [];
			while (Date.now() < deadline - KILL_EVERY_MS) {
				await new Promise((resolve) => setTimeout(resolve, KILL_EVERY_MS));
				let open = () => {};
				gate = new Promise<void>((resolve) => {
					open = resolve;
				});
				try {
					const stored = await storedRefreshTokens();
					const victim = [...live.keys()].find(
						(name) => (server.outstanding.get(name) ?? 0) === 0 && committedBy(name, stored),
					);
					if (!victim) continue;
					const handle = live.get(victim)!;
					live.delete(victim);
					killed.add(victim);
					pending.get(victim)?.catch(() => undefined);
					pending.delete(victim);
					await handle.kill();
					kills++;
					killLog.push([victim, Date.now()]);
				} finally {
					gate = undefined;
					open();
				}
				spawn();
			}
			const finished = (await Promise.all(pending.values())) as unknown as TrafficResult[];

			const reused = server.refreshes.filter((refresh) => refresh.outcome === "invalid_grant");
			const windows = finished.flatMap((result) => result.unpersistedWindowsMs).sort((a, b) => a - b);
			const quantile = (q: number) => windows[Math.min(windows.length - 1, Math.floor(q * windows.length))] ?? 0;
			const rotated = server.rotations();
			console.info(
				`soak: ${SOAK_MS} ms, ${spawned} processes, ${kills} SIGKILLs, ${rotated} rotations ` +
					`(${server.refreshes.filter((refresh, index) => refresh.outcome === "rotated" && index % 3 === 2).length} answered late), ` +
					`${finished.reduce((sum, r) => sum + r.verified, 0)} tokens verified, ${server.rejectedTokens.length} rejected, ` +
					`${reused.length} reused refresh tokens; answer→commit window p50 ${quantile(0.5).toFixed(2)} ms, ` +
					`p99 ${quantile(0.99).toFixed(2)} ms, max ${quantile(1).toFixed(2)} ms over ${windows.length} rotations`,
			);
			if (reused.length > 0) {
				// The account's refresh timeline and the kills, to tell which guarantee broke.
				const t0 = server.refreshes[0]?.at ?? 0;
				for (const r of server.refreshes.filter((entry) => entry.account === reused[0]!.account))
					console.error(`+${r.at - t0} ms ${r.worker} ${r.outcome} …${r.token}`);
				console.error(`kills: ${killLog.map(([name, at]) => `${name} at +${at - t0} ms`).join(", ")}`);
			}
			expect(windows.length).toBeGreaterThan(0);
			expect(kills).toBeGreaterThan(0);
			expect(reused, "a refresh token was presented twice").toEqual([]);
			expect(await store.rows.listDisabled()).toEqual([]);
			expect(await store.rows.listActive(PROVIDER)).toHaveLength(ACCOUNTS.length);
			for (const result of finished) expect(result.errors, result.worker).toEqual([]);
			for (const account of ACCOUNTS) expect(server.rotations(account), account).toBeGreaterThan(1);
			await store.close();
			expect(integrity(dbPath)).toBe("ok");
		},
		SOAK_MS + 60_000,
	);
});
