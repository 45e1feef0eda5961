/**
 * AuthStorage over the SQLite store: a block set by another OS process is honoured on the next call,
 * a session pin survives a restart, and the warm hot path runs no write (statements counted).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthStorage, xxHash32 } from "@authpool/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { grantCredential, PROVIDER, rotatingPlugin } from "../test/rotating-plugin";
import { type RotatingTokenServer, startRotatingTokenServer } from "../test/rotating-token-server";
import { spawnWorker } from "../test/spawn-worker";
import { openCountingDatabase } from "../test/statement-counter";
import { createSqliteStore, type SqliteCredentialStore } from "./index";

/** Long-lived tokens: these tests are about blocks, pins and statements, not refresh. */
const TOKEN_TTL_MS = 3_600_000;

let dir: string;
let dbPath: string;
let server: RotatingTokenServer;
const cleanups: Array<() => Promise<void>> = [];

beforeEach(async () => {
	dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-pool-"));
	dbPath = join(dir, "auth.db");
	server = await startRotatingTokenServer(TOKEN_TTL_MS);
});

afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
	await server.close();
	rmSync(dir, { recursive: true, force: true });
});

async function openStore(options: Parameters<typeof createSqliteStore>[0]): Promise<SqliteCredentialStore> {
	const store = await createSqliteStore(options);
	cleanups.push(() => store.close());
	return store;
}

async function openPool(store: SqliteCredentialStore): Promise<AuthStorage> {
	const storage = new AuthStorage(store, { providers: [rotatingPlugin(server.url, "parent")] });
	cleanups.push(() => storage.close());
	await storage.reload();
	return storage;
}

async function seed(store: SqliteCredentialStore, accounts: string[]): Promise<Map<string, string>> {
	const accessByAccount = new Map<string, string>();
	for (const account of accounts) {
		const grant = server.addAccount(account);
		await store.rows.insert(PROVIDER, grantCredential(grant));
		accessByAccount.set(grant.access, account);
	}
	return accessByAccount;
}

describe("AuthStorage on SQLite", () => {
	it("honours a block set by another process on its very next call", async () => {
		const store = await openStore({ path: dbPath });
		const accountOf = await seed(store, ["acct-a", "acct-b"]);
		const pool = await openPool(store);
		const session = "shared-session";
		const first = await pool.getApiKey(PROVIDER, session);
		expect(accountOf.has(String(first))).toBe(true);

		const blocker = spawnWorker({ mode: "block", dbPath, serverUrl: server.url, worker: "blocker", session });
		cleanups.push(() => blocker.kill());
		const blocked = await blocker.next("block");
		// The other process resolved the same row for the session (pin shared through the store), then blocked it.
		expect(blocked.key).toBe(first);
		await blocker.exited;

		// No reload, no wait: the change check on this call sees the peer's block.
		const next = await pool.getApiKey(PROVIDER, session);
		expect(next).toBeDefined();
		expect(next).not.toBe(first);
		for (let call = 0; call < 5; call++) expect(await pool.getApiKey(PROVIDER)).not.toBe(first);
	}, 30_000);

	it("keeps a session's pin across a restart", async () => {
		// A session whose hash start differs between 2 and 3 rows: only the persisted pin keeps it in place.
		let session = "";
		for (let index = 0; ; index++) {
			const candidate = `session-${index}`;
			const hash = xxHash32(candidate);
			if (hash % 2 !== hash % 3) {
				session = candidate;
				break;
			}
		}
		const store = await createSqliteStore({ path: dbPath });
		await seed(store, ["acct-a", "acct-b"]);
		const before = new AuthStorage(store, { providers: [rotatingPlugin(server.url, "first-run")] });
		await before.reload();
		const pinned = await before.getApiKey(PROVIDER, session);
		await before.close();
		await store.close();

		const reopened = await openStore({ path: dbPath });
		await seed(reopened, ["acct-c"]);
		const rows = await reopened.rows.listActive(PROVIDER);
		const byHashNow = rows[xxHash32(session) % rows.length]!.credential as { access: string };
		expect(byHashNow.access, "the test needs the hash to point elsewhere now").not.toBe(pinned);
		const after = await openPool(reopened);
		expect(await after.getApiKey(PROVIDER, session)).toBe(pinned);
	});

	it("runs no SQL statement at all on a warm getApiKey, with or without a session", async () => {
		const counting = openCountingDatabase(dbPath);
		cleanups.push(async () => {
			if (counting.db.open) counting.db.close();
		});
		const store = await openStore({ database: counting.db });
		await seed(store, ["acct-a", "acct-b", "acct-c"]);
		const pool = await openPool(store);
		// Warm up: the first call of a session reads (and writes) its pin.
		for (const session of ["s1", "s2", undefined]) await pool.getApiKey(PROVIDER, session);

		counting.reset();
		for (let call = 0; call < 300; call++) {
			expect(await pool.getApiKey(PROVIDER, "s1")).toBeDefined();
			expect(await pool.getApiKey(PROVIDER, "s2")).toBeDefined();
			expect(await pool.getApiKey(PROVIDER)).toBeDefined();
		}
		// The change check reads the wal-index header (no statement); nothing else touches the database.
		expect(counting.writes()).toEqual([]);
		expect(counting.executed).toEqual([]);
	});
});
