/**
 * The store on Bun (`bun:sqlite`), run from Node: the conformance suite and the Bun-side driver checks
 * under `bun test`, and Node and Bun processes cooperating on one file (one refresh for an expiring
 * rotating row, blocks and the change feed seen across runtimes). Bun comes from the npm registry
 * (test/bun-binary.ts); a Bun that is missing or fails fails these tests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AuthStorage } from "@authpool/core";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { bunBinary, runBun } from "../test/bun-binary";
import type { TrafficResult } from "../test/pool-worker";
import { grantCredential, PROVIDER, REFRESH_SKEW_MS, rotatingPlugin } from "../test/rotating-plugin";
import { type RotatingTokenServer, startRotatingTokenServer } from "../test/rotating-token-server";
import { spawnWorker, type WorkerHandle } from "../test/spawn-worker";
import { createSqliteStore, type SqliteCredentialStore } from "./index";

const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
/** Gives `bun test` the vitest helpers the shared suites use (`vi.waitFor`, `expect.poll`). */
const VITEST_COMPAT = fileURLToPath(new URL("../../../scripts/bun/vitest-compat.ts", import.meta.url));

/** `bun test` on one Bun-side file (vitest imports map to bun:test; the preload adds `vi.waitFor`). */
async function bunTest(file: string): Promise<{ passed: number; failed: number; output: string }> {
	// The vitest projects' per-test timeout (vitest.shared.ts); bun test's default is 5 s.
	const args = ["test", "--timeout", "20000", "--preload", VITEST_COMPAT, "--conditions=@authpool/source", file];
	const { status, output } = await runBun(args, { cwd: PACKAGE_DIR, timeoutMs: 60_000 });
	const passed = Number(/^\s*(\d+) pass$/m.exec(output)?.[1] ?? 0);
	const failed = Number(/^\s*(\d+) fail$/m.exec(output)?.[1] ?? 0);
	if (status !== 0 || failed > 0) {
		throw new Error(`bun test ${file} failed (exit ${status}, ${failed} failed):\n${output.slice(-6_000)}`);
	}
	return { passed, failed, output };
}

beforeAll(() => {
	// Found or installed once, before any test's clock starts (an install takes seconds).
	bunBinary();
}, 240_000);

describe("the SQLite store under Bun", () => {
	it("passes the store conformance suite on bun:sqlite", async () => {
		const { passed } = await bunTest("./test/bun/conformance.bun.ts");
		console.log(`bun: conformance suite ${passed} passed`);
		expect(passed).toBeGreaterThan(50);
	}, 90_000);

	it("uses bun:sqlite with the same pragmas, permissions, change check (no statement when warm), busy handling and reopen", async () => {
		const { passed } = await bunTest("./test/bun/driver.bun.ts");
		expect(passed).toBeGreaterThanOrEqual(7);
	}, 60_000);
});

describe("Node and Bun processes on one file", () => {
	let dir: string;
	let dbPath: string;
	let server: RotatingTokenServer;
	const workers: WorkerHandle[] = [];
	const cleanups: Array<() => Promise<void>> = [];

	beforeEach(async () => {
		dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-bun-node-"));
		dbPath = join(dir, "auth.db");
	});

	afterEach(async () => {
		for (const worker of workers.splice(0)) await worker.kill();
		for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
		await server?.close();
		rmSync(dir, { recursive: true, force: true });
	});

	async function openStore(): Promise<SqliteCredentialStore> {
		const store = await createSqliteStore({ path: dbPath });
		cleanups.push(() => store.close());
		return store;
	}

	it("an expired rotating row hit by a Node and a Bun process at once is refreshed exactly once", async () => {
		server = await startRotatingTokenServer(60_000);
		const store = await openStore();
		const grant = server.addAccount("acct-race");
		// Already expired: both processes must refresh (or take the other's rotation) on their first call.
		await store.rows.insert(PROVIDER, { ...grantCredential(grant), expires: Date.now() - 1_000 });

		const node = spawnWorker({ mode: "race", dbPath, serverUrl: server.url, worker: "node-racer" });
		const bun = spawnWorker({ mode: "race", dbPath, serverUrl: server.url, worker: "bun-racer" }, { runtime: "bun" });
		workers.push(node, bun);
		const ready = await Promise.all([node.next("ready"), bun.next("ready")]);
		expect(ready.map((message) => message.runtime)).toEqual(["node", "bun"]);
		for (const worker of [node, bun]) worker.child.send({ type: "go" });
		const [fromNode, fromBun] = await Promise.all([node.next("race"), bun.next("race")]);

		expect(server.refreshes.map((refresh) => refresh.outcome)).toEqual(["rotated"]);
		expect(fromNode.key).toBeDefined();
		expect(fromBun.key).toBe(fromNode.key);
		expect(fromNode.key).not.toBe(grant.access);
		const [row] = await store.rows.listActive(PROVIDER);
		expect(row?.version).toBe(2);
		expect(row?.credential.type === "oauth" && row.credential.access).toBe(fromNode.key);
		console.log(`bun+node race: refreshed by ${server.refreshes[0]?.worker}`);
	}, 60_000);

	it("Node and Bun callers under sustained traffic: one refresh per expiry, no invalid_grant, no error", async () => {
		const ttlMs = 2_000;
		const trafficMs = 3_000;
		server = await startRotatingTokenServer(ttlMs);
		const store = await openStore();
		await store.rows.insert(PROVIDER, grantCredential(server.addAccount("acct-shared")));
		const config = {
			mode: "traffic",
			dbPath,
			serverUrl: server.url,
			durationMs: trafficMs,
			callers: 10,
			waitForGo: true,
		} as const;
		workers.push(
			spawnWorker({ ...config, worker: "node-traffic" }),
			spawnWorker({ ...config, worker: "bun-traffic" }, { runtime: "bun" }),
		);
		// Both loaded before either starts: their traffic overlaps however slow a start is.
		await Promise.all(workers.map((worker) => worker.next("ready")));
		const started = Date.now();
		for (const worker of workers) worker.child.send({ type: "go" });
		const results = (await Promise.all(workers.map((worker) => worker.next("traffic")))) as unknown as TrafficResult[];
		const elapsed = Date.now() - started;
		for (const result of results) {
			expect(result.errors, result.worker).toEqual([]);
			expect(result.busyErrors, result.worker).toBe(0);
			expect(result.noKey, result.worker).toBe(0);
			expect(result.rejected, result.worker).toBe(0);
			expect(result.verified, result.worker).toBeGreaterThan(10);
		}
		expect(server.rejectedTokens).toEqual([]);
		expect(server.refreshes.filter((refresh) => refresh.outcome !== "rotated")).toEqual([]);
		const rotations = server.rotations("acct-shared");
		// Refreshes start 1 s before expiry: about one per second of traffic, never two for one expiry.
		expect(rotations).toBeGreaterThanOrEqual(2);
		expect(rotations).toBeLessThanOrEqual(Math.ceil(elapsed / (ttlMs - REFRESH_SKEW_MS)) + 1);
		const [row] = await store.rows.listActive(PROVIDER);
		expect(row?.version).toBe(1 + rotations);
		const byWorker = new Map<string, number>();
		for (const { worker = "unknown" } of server.refreshes) byWorker.set(worker, (byWorker.get(worker) ?? 0) + 1);
		console.log(
			`bun+node traffic: ${rotations} rotations in ${elapsed} ms, by worker ${JSON.stringify(Object.fromEntries(byWorker))}, verified ${results.map((r) => `${r.worker}=${r.verified}`).join(" ")}`,
		);
	}, 60_000);

	it("a block set on Bun moves Node's change feed and is honoured by Node; one set on Node is honoured by Bun", async () => {
		server = await startRotatingTokenServer(3_600_000);
		const store = await openStore();
		const accountOfAccess = new Map<string, string>();
		for (const account of ["acct-a", "acct-b"]) {
			const grant = server.addAccount(account);
			await store.rows.insert(PROVIDER, grantCredential(grant));
			accountOfAccess.set(grant.access, account);
		}
		const pool = new AuthStorage(store, { providers: [rotatingPlugin(server.url, "parent")] });
		cleanups.push(() => pool.close());
		await pool.reload();
		let heard = 0;
		const unsubscribe = store.changes.subscribe(() => heard++);
		cleanups.push(async () => unsubscribe());

		// Bun resolves a session (pin shared through the store) and blocks that row.
		const session = "bun-session";
		const first = await pool.getApiKey(PROVIDER, session);
		const revisionBefore = store.changes.revision();
		const blocker = spawnWorker(
			{ mode: "block", dbPath, serverUrl: server.url, worker: "bun-blocker", session },
			{ runtime: "bun" },
		);
		workers.push(blocker);
		const blocked = await blocker.next("block");
		expect(blocked.key).toBe(first);
		await blocker.exited;
		await vi.waitFor(() => expect(heard).toBeGreaterThan(0), { timeout: 5_000, interval: 20 });
		expect(store.changes.revision()).toBeGreaterThan(revisionBefore);
		const blocks = await store.blocks.list();
		expect(blocks).toHaveLength(1);
		// Node's very next call steps around the row Bun blocked.
		const next = await pool.getApiKey(PROVIDER, session);
		expect(next).toBeDefined();
		expect(next).not.toBe(first);

		// And the other way: with Bun's block lifted, Node blocks another session's row; Bun, resolving that
		// session, steps around it.
		await store.blocks.delete(blocks[0]?.credentialId ?? -1);
		const otherSession = "node-session";
		const pinned = await pool.getApiKey(PROVIDER, otherSession);
		await pool.markUsageLimitReached(PROVIDER, otherSession, { retryAfterMs: 60_000 });
		const resolver = spawnWorker(
			{ mode: "resolve", dbPath, serverUrl: server.url, worker: "bun-resolver", session: otherSession },
			{ runtime: "bun" },
		);
		workers.push(resolver);
		const resolved = await resolver.next("resolve");
		expect(resolved.key).toBeDefined();
		expect(resolved.key).not.toBe(pinned);
		expect(accountOfAccess.has(String(resolved.key))).toBe(true);
	}, 30_000);
});
