/**
 * Key rotation and plaintext migration under load on one SQLite file: real OS processes refresh
 * rotating tokens (4 s access tokens refreshed 2.5 s early, the refresh token rotated on every use, a
 * reused one answered `invalid_grant`) while this process, a further one, runs `rotateEncryptionKeys`
 * / `sealPlaintextRows`. Afterwards every row (tombstone included) is under the active key, every
 * stored refresh token is still the live one, none was reused, nothing was disabled.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	type AuthCredentialStore,
	AuthStorage,
	type CasResult,
	rotateEncryptionKeys,
	sealPlaintextRows,
	withEncryption,
} from "@authpool/core";
import BetterSqlite3 from "better-sqlite3";
import { afterEach, beforeEach, expect, it } from "vitest";
import type { TrafficResult } from "../test/pool-worker";
import { grantCredential, PROVIDER, rotatingPlugin } from "../test/rotating-plugin";
import { type RotatingTokenServer, startRotatingTokenServer } from "../test/rotating-token-server";
import { spawnWorker, type WorkerHandle } from "../test/spawn-worker";
import { createSqliteStore } from "./index";

/** Tokens live 4 s and are refreshed 2.5 s early: a rotation every ~1.5 s, 2.5 s to use a token. */
const ACCESS_TTL_MS = 4_000;
const REFRESH_EARLY_MS = 2_500;
const ACCOUNTS = ["acct-r1", "acct-r2", "acct-r3", "acct-r4", "acct-r5", "acct-r6"];
/** API-key rows that make the rotation pass long enough to overlap refreshes. */
const FILLER_ROWS = 80;
// Obviously fake keys: constant bytes.
const OLD = Buffer.alloc(32, 0x31);
const NEW = Buffer.alloc(32, 0x32);
const spec = (entries: Array<[string, Buffer]>) =>
	entries.map(([id, key]) => `${id}:${key.toString("base64")}`).join(",");

let dir: string;
let dbPath: string;
let server: RotatingTokenServer;
const workers: WorkerHandle[] = [];

beforeEach(async () => {
	dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-enc-rot-"));
	dbPath = join(dir, "auth.db");
	server = await startRotatingTokenServer(ACCESS_TTL_MS);
});

afterEach(async () => {
	for (const worker of workers.splice(0)) await worker.kill();
	await server.close();
	rmSync(dir, { recursive: true, force: true });
});

/**
 * The store with its compare-and-set failures (races lost to a worker's refresh) counted. Before its
 * first write of a row, `beforeFirstWrite` may hold the writer until another process changed the row.
 */
function countingLostRaces(
	store: AuthCredentialStore,
	beforeFirstWrite: (id: number) => Promise<void>,
): { store: AuthCredentialStore; lost: () => number } {
	let lost = 0;
	const written = new Set<number>();
	const rows = { ...store.rows };
	rows.compareAndSet = async (id, version, credential) => {
		if (!written.has(id)) {
			written.add(id);
			await beforeFirstWrite(id);
		}
		const result: CasResult = await store.rows.compareAndSet(id, version, credential);
		if (!result.ok) lost++;
		return result;
	};
	return { store: { ...store, rows, close: () => store.close() }, lost: () => lost };
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error("condition not met in time");
		await new Promise((resolve) => setTimeout(resolve, 25));
	}
}

/** Every stored `data` and `identity_key`, straight from the file. */
function rawText(): string {
	const db = new BetterSqlite3(dbPath, { readonly: true });
	try {
		return JSON.stringify(db.prepare("SELECT data, identity_key FROM auth_credentials").all());
	} finally {
		db.close();
	}
}

function startTraffic(processes: number, durationMs: number, encryption: { keys: string; activeKeyId: string }) {
	for (let index = 0; index < processes; index++) {
		workers.push(
			spawnWorker({
				mode: "traffic",
				dbPath,
				serverUrl: server.url,
				worker: `worker-${index}`,
				durationMs,
				callers: 8,
				sessions: false,
				refreshSkewMs: REFRESH_EARLY_MS,
				encryption,
			}),
		);
	}
	return workers.slice(-processes);
}

/** Refresh every account once more from this process: the stored refresh token must be the live one. */
async function refreshEachOnce(store: AuthCredentialStore): Promise<void> {
	const storage = new AuthStorage(store, {
		providers: [rotatingPlugin(server.url, "final-check")],
		refreshSkewMs: REFRESH_EARLY_MS,
	});
	await storage.reload();
	for (const row of await store.rows.listActive(PROVIDER)) await storage.refreshCredentialById(row.id);
	await storage.close();
}

function expectCleanTraffic(results: TrafficResult[]): void {
	// Never a token the server did not issue. A token served with its last 2.5 s left could still age out
	// on an overloaded 2-core machine before its verify call lands: counted, bounded, printed.
	expect(server.rejectedTokens.filter((rejection) => rejection.reason !== "expired token")).toEqual([]);
	const verified = results.reduce((sum, result) => sum + result.verified, 0);
	const rejected = results.reduce((sum, result) => sum + result.rejected, 0);
	expect(rejected).toBe(server.rejectedTokens.length);
	expect(rejected).toBeLessThanOrEqual(Math.ceil(verified / 100));
	console.log(`traffic: ${verified} verified calls, ${rejected} aged out before verification`);
	for (const result of results) {
		expect(result.errors, result.worker).toEqual([]);
		expect(result.noKey, result.worker).toBe(0);
		expect(result.verified, result.worker).toBeGreaterThan(0);
	}
	// A lost or overwritten rotation would have been presented again: invalid_grant.
	expect(server.refreshes.filter((refresh) => refresh.outcome !== "rotated")).toEqual([]);
}

it("4 processes refresh rotating tokens while a 5th rotates keys: all rows end under the new key, 0 tokens lost or reused", async () => {
	const seed = withEncryption(await createSqliteStore({ path: dbPath }), {
		keys: new Map([["old", OLD]]),
		activeKeyId: "old",
	});
	const accountOfRow = new Map<number, string>();
	for (const account of ACCOUNTS) {
		accountOfRow.set((await seed.rows.insert(PROVIDER, grantCredential(server.addAccount(account)))).id, account);
	}
	for (let n = 0; n < FILLER_ROWS; n++)
		await seed.rows.insert("filler", { type: "api_key", key: `test-filler-key-${n}` });
	const gone = await seed.rows.insert(PROVIDER, {
		...grantCredential(server.addAccount("acct-gone")),
		email: "gone@example.com",
	});
	await seed.rows.disable(gone.id, "deleted by user");
	await seed.close();
	const total = ACCOUNTS.length + FILLER_ROWS + 1;

	// Rollout order: every process holds both keys and writes under the new one; then rotate.
	const both = {
		keys: spec([
			["old", OLD],
			["new", NEW],
		]),
		activeKeyId: "new",
	};
	const traffic = startTraffic(4, 6_000, both);
	await Promise.all(traffic.map((worker) => worker.next("ready")));
	const rotationsBefore = server.rotations();
	await waitFor(() => server.rotations() >= rotationsBefore + 2, 5_000);

	const sqlite = await createSqliteStore({ path: dbPath });
	// The workers refreshed every login under the new key by now. A straggler still writing under the old
	// key (by compare-and-set, as every writer does) puts them back, so rotation has live rows to race for.
	const straggler = withEncryption(sqlite, {
		keys: new Map([
			["old", OLD],
			["new", NEW],
		]),
		activeKeyId: "old",
	});
	for (const id of accountOfRow.keys()) {
		const row = await straggler.rows.get(id);
		if (row) await straggler.rows.compareAndSet(id, row.version, row.credential);
	}
	// Force the race on every OAuth row: rotation has read it; a worker's refresh lands before its CAS.
	const counted = countingLostRaces(sqlite, async (id) => {
		const account = accountOfRow.get(id);
		if (account === undefined) return;
		const seen = server.rotations(account);
		// Bounded: if traffic ends first the CAS simply goes ahead (at least one race is asserted below).
		await waitFor(() => server.rotations(account) > seen, 4_000).catch(() => undefined);
	});
	const rotator = withEncryption(counted.store, {
		keys: new Map([
			["old", OLD],
			["new", NEW],
		]),
		activeKeyId: "new",
	});
	const started = performance.now();
	const result = await rotateEncryptionKeys(rotator, { batchSize: 4 });
	const rotationMs = performance.now() - started;
	expect(result.failed).toEqual([]);
	expect(result.disabledPending).toEqual([]);
	expect(result.resealed + result.skipped).toBe(total);
	expect(result.resealed).toBeGreaterThanOrEqual(FILLER_ROWS + 1);
	// Each OAuth row's first CAS lost to a refresh, was re-read, found under the new key: skipped, not overwritten.
	expect(counted.lost()).toBeGreaterThanOrEqual(1);
	expect(result.skipped).toBeGreaterThanOrEqual(counted.lost());

	const results = (await Promise.all(traffic.map((worker) => worker.next("traffic")))) as unknown as TrafficResult[];
	await Promise.all(traffic.map((worker) => worker.exited));
	console.log(
		`rotation under load: ${total} rows in ${rotationMs.toFixed(0)} ms (resealed ${result.resealed}, skipped ${result.skipped}, ` +
			`${counted.lost()} CAS races lost to refreshes), ${server.rotations()} token rotations`,
	);
	expectCleanTraffic(results);
	expect(server.rotations()).toBeGreaterThanOrEqual(ACCOUNTS.length);

	// Every row, the tombstone too, opens with the new key alone; nothing is left under the old one.
	const text = rawText();
	expect(text.includes("enc:v1:old:"), "value under the old key").toBe(false);
	expect(text.includes("hmac:old:"), "identity under the old key").toBe(false);
	const onlyNew = withEncryption(sqlite, { keys: new Map([["new", NEW]]), activeKeyId: "new" });
	const rawRows = [...(await sqlite.rows.listActive()), ...(await sqlite.rows.listDisabled())];
	expect(rawRows.filter((raw) => onlyNew.encryption.needsReseal(raw))).toEqual([]);
	expect(await onlyNew.encryption.listUndecryptableRows()).toEqual([]);
	expect(await onlyNew.rows.listActive()).toHaveLength(total - 1);
	expect((await onlyNew.rows.listDisabled()).map((row) => [row.id, row.disabledCause])).toEqual([
		[gone.id, "deleted by user"],
	]);
	await refreshEachOnce(onlyNew);
	expect(server.refreshes.filter((refresh) => refresh.outcome !== "rotated")).toEqual([]);
	await sqlite.close();
}, 40_000);

it("a plaintext file is sealed in place while other processes keep refreshing on it (mixed state works)", async () => {
	const plain = await createSqliteStore({ path: dbPath });
	for (const account of ACCOUNTS) await plain.rows.insert(PROVIDER, grantCredential(server.addAccount(account)));
	for (let n = 0; n < FILLER_ROWS; n++)
		await plain.rows.insert("filler", { type: "api_key", key: `test-filler-key-${n}` });
	await plain.close();
	const total = ACCOUNTS.length + FILLER_ROWS;

	// Encryption switched on: workers read plaintext rows as they are and write sealed ones.
	const encryption = { keys: spec([["k1", NEW]]), activeKeyId: "k1" };
	const traffic = startTraffic(2, 3_500, encryption);
	await Promise.all(traffic.map((worker) => worker.next("ready")));
	// Mixed state: a refreshed login is sealed while everything else is still plaintext.
	await waitFor(() => rawText().includes("enc:v1:k1:"), 5_000);
	expect(rawText().includes("test-filler-key-0"), "filler still plaintext").toBe(true);

	const sqlite = await createSqliteStore({ path: dbPath });
	const store = withEncryption(sqlite, { keys: new Map([["k1", NEW]]), activeKeyId: "k1" });
	const result = await sealPlaintextRows(store, { batchSize: 4 });
	expect(result.failed).toEqual([]);
	expect(result.resealed + result.skipped).toBe(total);
	expect(result.resealed).toBeGreaterThanOrEqual(FILLER_ROWS);

	const results = (await Promise.all(traffic.map((worker) => worker.next("traffic")))) as unknown as TrafficResult[];
	await Promise.all(traffic.map((worker) => worker.exited));
	expectCleanTraffic(results);

	const text = rawText();
	expect(text.includes("test-filler-key-"), "filler key left in plaintext").toBe(false);
	for (const account of ACCOUNTS) expect(text.includes(account), account).toBe(false);
	expect(await store.encryption.listUndecryptableRows()).toEqual([]);
	expect(await store.rows.listDisabled()).toEqual([]);
	const rows = await store.rows.listActive();
	expect(rows).toHaveLength(total);
	expect((await sqlite.rows.listActive()).filter((raw) => store.encryption.needsReseal(raw))).toEqual([]);
	await refreshEachOnce(store);
	expect(server.refreshes.filter((refresh) => refresh.outcome !== "rotated")).toEqual([]);
	await sqlite.close();
}, 30_000);
