/**
 * Run by `bun test` (from src/bun-runtime.int.test.ts): the store on `bun:sqlite` keeps the guarantees
 * the Node tests check on better-sqlite3 — busy timeout first and the same pragmas, 0700/0600 files,
 * the O(1) change check across connections (the warm `getApiKey` runs no statement at all), STORE_BUSY
 * after the deadline, reopen of a deleted file — and never loads better-sqlite3.
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthStorage, type ProviderPlugin } from "@authpool/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSqliteStore, type SqliteCredentialStore } from "../../src/index";
import { runtimeSqliteDriver } from "../../src/sqlite-driver";

let dir: string;
const opened: Array<{ close(): unknown }> = [];

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "authpool-bun-driver-"));
});

afterEach(async () => {
	for (const item of opened.splice(0).reverse()) await item.close();
	rmSync(dir, { recursive: true, force: true });
});

async function open(options: Parameters<typeof createSqliteStore>[0]): Promise<SqliteCredentialStore> {
	const store = await createSqliteStore(options);
	opened.push(store);
	return store;
}

function raw(path: string): Database {
	const db = new Database(path, { strict: true });
	opened.push(db);
	return db;
}

const pragma = (db: Database, name: string) => Object.values(db.query(`PRAGMA ${name}`).get() as object)[0];

describe("bun:sqlite driver", () => {
	it("is the driver picked on Bun, and better-sqlite3 is never loaded", async () => {
		expect(runtimeSqliteDriver()).toBe("bun:sqlite");
		const store = await open({ path: join(dir, "auth.db") });
		await store.rows.insert("openai", { type: "api_key", key: "test-key-1" });
		expect(await store.rows.listActive("openai")).toHaveLength(1);
		expect(Object.keys(require.cache).filter((path) => path.includes("better-sqlite3"))).toEqual([]);
	});

	it("configures an injected bun:sqlite connection (busy timeout, WAL, foreign keys, synchronous) and leaves it open", async () => {
		const path = join(dir, "injected.db");
		const db = raw(path);
		const store = await createSqliteStore({ database: db, busyTimeoutMs: 1234 });
		expect(pragma(db, "busy_timeout")).toBe(1234);
		expect(pragma(db, "journal_mode")).toBe("wal");
		expect(pragma(db, "foreign_keys")).toBe(1);
		expect(pragma(db, "synchronous")).toBe(1);
		await store.rows.insert("openai", { type: "api_key", key: "test-key-1" });
		await store.close();
		expect((db.query("SELECT count(*) AS n FROM auth_credentials").get() as { n: number }).n).toBe(1);
	});

	it("creates the directory 0700 and keeps the database, -wal and -shm 0600", async () => {
		const path = join(dir, "nested", "auth.db");
		const store = await open({ path });
		await store.rows.insert("openai", { type: "api_key", key: "test-key-1" });
		expect(statSync(join(dir, "nested")).mode & 0o777).toBe(0o700);
		for (const file of [path, `${path}-wal`, `${path}-shm`]) expect(statSync(file).mode & 0o777).toBe(0o600);
	});

	it("sees another connection's row and block writes through the change check, not its cache writes", async () => {
		const path = join(dir, "auth.db");
		const a = await open({ path });
		const b = await open({ path });
		const start = b.changes.revision();
		expect(b.changes.revision()).toBe(start);
		const row = await a.rows.insert("openai", { type: "api_key", key: "test-key-1" });
		const afterRow = b.changes.revision();
		expect(afterRow).toBeGreaterThan(start);
		await a.cache.set("pin", "value", Date.now() + 60_000);
		expect(b.changes.revision()).toBe(afterRow);
		await a.blocks.upsert({
			credentialId: row.id,
			providerKey: "openai:api_key",
			scope: "",
			blockedUntil: Date.now() + 60_000,
		});
		expect(b.changes.revision()).toBeGreaterThan(afterRow);
		expect(await b.blocks.list()).toHaveLength(1);
		expect(await b.rows.listActive("openai")).toHaveLength(1);
	});

	it("fails a write that stays locked past busyDeadlineMs with STORE_BUSY, and writes again once the lock is gone", async () => {
		const path = join(dir, "auth.db");
		const store = await open({ path, busyDeadlineMs: 200 });
		const holder = raw(path);
		holder.exec("BEGIN IMMEDIATE");
		const error = await store.rows.insert("openai", { type: "api_key", key: "test-key-1" }).catch((e: unknown) => e);
		expect((error as { code?: string }).code).toBe("STORE_BUSY");
		expect(String((error as Error).message)).not.toContain("test-key-1");
		holder.exec("COMMIT");
		await store.rows.insert("openai", { type: "api_key", key: "test-key-2" });
		expect(await store.rows.listActive("openai")).toHaveLength(1);
	});

	it("reopens (recreating and migrating) when the file was deleted under it", async () => {
		const path = join(dir, "auth.db");
		const store = await open({ path });
		await store.rows.insert("openai", { type: "api_key", key: "test-key-old" });
		for (const file of [path, `${path}-wal`, `${path}-shm`]) unlinkSync(file);
		// The file check runs at most once a second on the warm path.
		await new Promise((resolve) => setTimeout(resolve, 1_100));
		store.changes.revision();
		expect(await store.rows.listActive("openai")).toEqual([]);
		await store.rows.insert("openai", { type: "api_key", key: "test-key-new" });
		const again = await open({ path });
		expect(await again.rows.listActive("openai")).toHaveLength(1);
	});

	it("runs no statement on a warm getApiKey, and sees a peer's write on the very next call", async () => {
		const path = join(dir, "auth.db");
		let executed = 0;
		// A bun:sqlite connection whose statements count their executions.
		class CountingDatabase extends Database {
			override prepare(sql: string) {
				const statement = super.prepare(sql) as unknown as Record<string, unknown>;
				return new Proxy(statement, {
					get(target, key) {
						const value = Reflect.get(target, key, target);
						if (typeof value !== "function") return value;
						if (["run", "get", "all", "values", "iterate"].includes(String(key))) {
							return (...args: unknown[]) => {
								executed++;
								return (value as (...a: unknown[]) => unknown).apply(target, args);
							};
						}
						return (value as (...a: unknown[]) => unknown).bind(target);
					},
				}) as never;
			}
		}
		const db = new CountingDatabase(path, { strict: true });
		opened.push(db);
		const store = await open({ database: db });
		const plugin: ProviderPlugin = {
			id: "warm",
			oauth: {
				rotatesRefreshToken: true,
				refresh: async () => {
					throw new Error("no refresh expected");
				},
			},
		};
		const storage = new AuthStorage(store, { providers: [plugin], env: {} });
		opened.push(storage);
		await storage.reload();
		const expires = Date.now() + 3_600_000;
		await storage.set("warm", [
			{ type: "oauth", access: "test-access-1", refresh: "test-refresh-1", expires, email: "a@example.com" },
			{ type: "oauth", access: "test-access-2", refresh: "test-refresh-2", expires, email: "b@example.com" },
		]);
		const first = await storage.getApiKey("warm", "session-1");
		await storage.getApiKey("warm", "session-1");
		const before = executed;
		// The counter sees the store's statements at all (the loads and writes above ran some).
		expect(before).toBeGreaterThan(0);
		for (let call = 0; call < 100; call++) expect(await storage.getApiKey("warm", "session-1")).toBe(first);
		expect(executed - before).toBe(0);

		// Another connection blocks the session's row: the next call steps around it.
		const peer = await open({ path });
		const [row] = (await peer.rows.listActive("warm")).filter(
			(candidate) => candidate.credential.type === "oauth" && candidate.credential.access === first,
		);
		await peer.blocks.upsert({
			credentialId: row?.id ?? -1,
			providerKey: "warm:oauth",
			scope: "",
			blockedUntil: Date.now() + 60_000,
		});
		const next = await storage.getApiKey("warm", "session-1");
		expect(next).toBeDefined();
		expect(next).not.toBe(first);
	});
});
