import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthpoolError, type Logger, type OAuthCredential } from "@authpool/core";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { openCountingDatabase } from "../test/statement-counter";
import { createSqliteStore, type SqliteCredentialStore } from "./index";
import { migrateToLatest } from "./migrate";
import { MIGRATION_TABLE, migrations } from "./migrations";
import type { SqliteSchema } from "./schema";

let dir: string;
const opened: SqliteCredentialStore[] = [];
const raws: BetterSqlite3.Database[] = [];

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-"));
});

afterEach(async () => {
	for (const store of opened.splice(0)) await store.close();
	for (const raw of raws.splice(0)) if (raw.open) raw.close();
	rmSync(dir, { recursive: true, force: true });
});

async function open(options: Parameters<typeof createSqliteStore>[0]): Promise<SqliteCredentialStore> {
	const store = await createSqliteStore(options);
	opened.push(store);
	return store;
}

function raw(path: string): BetterSqlite3.Database {
	const db = new BetterSqlite3(path);
	raws.push(db);
	return db;
}

function login(email: string, generation = 1): OAuthCredential {
	return {
		type: "oauth",
		access: `access-token-${email}-${generation}`,
		refresh: `refresh-token-${email}-${generation}`,
		expires: 1_700_000_000_000 + generation,
		email,
	};
}

function recordingLogger() {
	const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
	const at =
		(level: string) =>
		(message: string, fields?: Record<string, unknown>): void => {
			lines.push({ level, message, ...(fields ? { fields } : {}) });
		};
	const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
	return { logger, lines };
}

async function rejection(promise: Promise<unknown>): Promise<AuthpoolError> {
	const error = await promise.then(
		() => undefined,
		(reason: unknown) => reason,
	);
	expect(AuthpoolError.isInstance(error), `expected an AuthpoolError, got ${String(error)}`).toBe(true);
	return error as AuthpoolError;
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe("options", () => {
	it("rejects a missing target, both targets, and bad values with INVALID_OPTIONS naming the fields", async () => {
		expect((await rejection(createSqliteStore({}))).code).toBe("INVALID_OPTIONS");
		const both = await rejection(createSqliteStore({ path: join(dir, "a.db"), database: raw(":memory:") }));
		expect(both.code).toBe("INVALID_OPTIONS");
		const bad = await rejection(
			createSqliteStore({ path: join(dir, "a.db"), busyTimeoutMs: -1, synchronous: "OFF" as "FULL" }),
		);
		expect(bad.code).toBe("INVALID_OPTIONS");
		expect(bad.message).toContain("busyTimeoutMs");
		expect(bad.message).toContain("synchronous");
	});
});

describe("files and pragmas", () => {
	it("creates the directory 0700 and keeps the database, -wal and -shm 0600", async () => {
		const previous = process.umask(0);
		try {
			const path = join(dir, "nested", "deeper", "auth.db");
			const store = await open({ path });
			await store.rows.insert("anthropic", login("a@example.com"));
			expect(mode(join(dir, "nested", "deeper"))).toBe(0o700);
			for (const file of [path, `${path}-wal`, `${path}-shm`]) expect(mode(file), file).toBe(0o600);
		} finally {
			process.umask(previous);
		}
	});

	it("tightens an existing world-readable database file to 0600", async () => {
		const path = join(dir, "auth.db");
		writeFileSync(path, "", { mode: 0o644 });
		await open({ path });
		expect(mode(path)).toBe(0o600);
	});

	it("installs busy_timeout before any other statement, then WAL, foreign keys and synchronous", async () => {
		const db = raw(join(dir, "auth.db"));
		const calls: string[] = [];
		for (const method of ["pragma", "prepare", "exec"] as const) {
			const original = (db[method] as (...args: unknown[]) => unknown).bind(db);
			(db as unknown as Record<string, unknown>)[method] = (source: string, ...rest: unknown[]) => {
				calls.push(`${method}: ${source}`);
				return original(source, ...rest);
			};
		}

		await open({ database: db, busyTimeoutMs: 1234 });

		expect(calls.slice(0, 4)).toEqual([
			"pragma: busy_timeout = 1234",
			"pragma: journal_mode = WAL",
			"pragma: foreign_keys = ON",
			"pragma: synchronous = NORMAL",
		]);
		expect(calls.length).toBeGreaterThan(4);
		expect(db.pragma("busy_timeout", { simple: true })).toBe(1234);
		expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
		expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
	});

	it("commits credential rows with synchronous=FULL but leaves the connection at its configured level", async () => {
		const db = raw(join(dir, "auth.db"));
		const store = await open({ database: db });
		const levels: unknown[] = [];
		const original = db.exec.bind(db);
		db.exec = ((source: string) => {
			const result = original(source);
			levels.push(db.pragma("synchronous", { simple: true }));
			return result;
		}) as typeof db.exec;
		await store.rows.insert("anthropic", login("a@example.com"));
		// FULL (2) is in force for the row's commit, then the connection goes back to NORMAL (1).
		expect(levels).toEqual([2, 1]);
		expect(db.pragma("synchronous", { simple: true })).toBe(1);

		levels.length = 0;
		await store.cache.set("pin", "1", Date.now() + 1000);
		await store.blocks.upsert({ credentialId: 1, providerKey: "anthropic:oauth", scope: "", blockedUntil: 1 });
		expect(levels).toEqual([]);
	});

	it("runs everything with FULL when asked to", async () => {
		const db = raw(join(dir, "auth.db"));
		await open({ database: db, synchronous: "FULL" });
		expect(db.pragma("synchronous", { simple: true })).toBe(2);
	});

	it("leaves an injected connection open on close", async () => {
		const db = raw(join(dir, "auth.db"));
		const store = await open({ database: db });
		await store.close();
		expect(db.open).toBe(true);
		expect(db.prepare("SELECT count(*) FROM auth_credentials").pluck().get()).toBe(0);
	});
});

describe("opening under contention", () => {
	it("retries the open while another connection holds the database locked, then succeeds", async () => {
		const path = join(dir, "auth.db");
		const holder = raw(path);
		holder.exec("BEGIN EXCLUSIVE");
		const released = new Promise<void>((resolve) =>
			setTimeout(() => {
				holder.exec("COMMIT");
				resolve();
			}, 60),
		);
		// The busy timeout alone (5 ms) cannot outlast the lock: only the retries can.
		const store = await open({ path, busyTimeoutMs: 5, openAttempts: 8, openRetryBaseMs: 10 });
		await released;
		expect((await store.rows.insert("openai", { type: "api_key", key: "sk-test" })).id).toBe(1);
	});

	it("gives up after the bounded retries with a STORE_ERROR naming the path", async () => {
		const path = join(dir, "auth.db");
		const holder = raw(path);
		holder.exec("BEGIN EXCLUSIVE");
		const error = await rejection(
			createSqliteStore({ path, busyTimeoutMs: 1, busyDeadlineMs: 0, openAttempts: 3, openRetryBaseMs: 1 }),
		);
		holder.exec("COMMIT");
		expect(error.code).toBe("STORE_ERROR");
		expect(error.message).toContain(path);
		expect(error.message).toContain("3 attempts");
	});

	it("opens many stores on one fresh file at once (migrations serialised, nobody stalls)", async () => {
		const path = join(dir, "auth.db");
		// One attempt and a short busy timeout: a connection stuck behind another's migration would fail.
		const stores = await Promise.all(
			Array.from({ length: 8 }, () => open({ path, busyTimeoutMs: 200, openAttempts: 1 })),
		);
		await stores[3]!.rows.insert("anthropic", login("a@example.com"));
		for (const store of stores) expect(await store.rows.listActive()).toHaveLength(1);
	});
});

describe("migrations", () => {
	it("migrates a database written by an older version and keeps its rows", async () => {
		const path = join(dir, "auth.db");
		const old = raw(path);
		const kysely = new Kysely<SqliteSchema>({ dialect: new SqliteDialect({ database: old }) });
		await migrateToLatest(old, kysely, path, { "0001_initial": migrations["0001_initial"]! });
		old
			.prepare(
				"INSERT INTO auth_credentials (provider, credential_type, data, identity_key, version, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 1, 1)",
			)
			.run("openai", "api_key", JSON.stringify({ type: "api_key", key: "sk-old" }), null);
		old.close();
		expect(() => raw(path).prepare("SELECT 1 FROM auth_usage_history").get()).toThrow(/no such table/);

		const store = await open({ path });
		expect((await store.rows.listActive()).map((row) => row.credential)).toEqual([{ type: "api_key", key: "sk-old" }]);
		await store.ledger.recordUsageCosts([{ recordedAt: 5, provider: "openai", accountKey: "k", costUsd: 0.5 }]);
		expect(await store.ledger.listUsageCosts()).toHaveLength(1);
		const applied = raw(path).prepare(`SELECT name FROM ${MIGRATION_TABLE} ORDER BY name`).pluck().all();
		expect(applied).toEqual(Object.keys(migrations));
	});

	it("refuses a database from a newer version with SCHEMA_TOO_NEW and changes nothing", async () => {
		const path = join(dir, "auth.db");
		const first = await open({ path });
		await first.rows.insert("anthropic", login("a@example.com"));
		await first.close();
		const editor = raw(path);
		editor.prepare(`INSERT INTO ${MIGRATION_TABLE} (name, timestamp) VALUES ('9999_from_the_future', 'x')`).run();
		const snapshot = (db: BetterSqlite3.Database) => ({
			schema: db.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name").all(),
			migrations: db.prepare(`SELECT * FROM ${MIGRATION_TABLE} ORDER BY name`).all(),
			rows: db.prepare("SELECT * FROM auth_credentials ORDER BY id").all(),
			revision: db.prepare("SELECT revision FROM auth_change_revision").pluck().get(),
		});
		const before = snapshot(editor);

		const error = await rejection(createSqliteStore({ path }));
		expect(error.code).toBe("SCHEMA_TOO_NEW");
		expect(error.message).toContain(path);
		expect(error.message).toContain("9999_from_the_future");
		expect(snapshot(editor)).toEqual(before);
	});
});

describe("change feed", () => {
	it("runs no statement at all while nothing changed (one read of the wal-index header), and sees a peer's row write at once", async () => {
		const path = join(dir, "auth.db");
		const counting = openCountingDatabase(path);
		raws.push(counting.db);
		const store = await open({ database: counting.db });
		const peer = await open({ path });
		const first = store.changes.revision();

		counting.reset();
		for (let index = 0; index < 100; index++) expect(store.changes.revision()).toBe(first);
		expect(counting.executed).toEqual([]);

		await peer.cache.set("session-pin", "1", Date.now() + 60_000);
		expect(store.changes.revision(), "a cache write does not make peers reload").toBe(first);

		await peer.rows.insert("anthropic", login("a@example.com"));
		const afterInsert = store.changes.revision();
		expect(afterInsert).toBeGreaterThan(first);
		await peer.blocks.upsert({
			credentialId: 1,
			providerKey: "anthropic:oauth",
			scope: "",
			blockedUntil: Date.now() + 60_000,
		});
		expect(store.changes.revision()).toBeGreaterThan(afterInsert);
	});

	it("falls back to PRAGMA data_version where there is no wal-index to read (in-memory database)", async () => {
		const store = await open({ path: ":memory:" });
		const before = store.changes.revision();
		expect(store.changes.revision()).toBe(before);
		await store.rows.insert("anthropic", login("a@example.com"));
		expect(store.changes.revision()).toBeGreaterThan(before);
	});

	it("notifies subscribers of local writes at once and of a peer's writes through the watch timer", async () => {
		const path = join(dir, "auth.db");
		const store = await open({ path, watchIntervalMs: 10 });
		const peer = await open({ path });
		let heard = 0;
		const unsubscribe = store.changes.subscribe(() => heard++);
		await store.rows.insert("anthropic", login("a@example.com"));
		expect(heard).toBe(1);
		await peer.rows.insert("anthropic", login("b@example.com"));
		await vi.waitFor(() => expect(heard).toBe(2), { timeout: 2000, interval: 5 });
		unsubscribe();
		await peer.rows.insert("anthropic", login("c@example.com"));
		await store.rows.insert("anthropic", login("d@example.com"));
		expect(heard).toBe(2);
	});
});

describe("corrupt rows", () => {
	it("skips a row whose JSON does not parse, warns once naming its id without the data, and reports it", async () => {
		const path = join(dir, "auth.db");
		const { logger, lines } = recordingLogger();
		const store = await open({ path, logger });
		const good = await store.rows.insert("anthropic", login("good@example.com"));
		const bad = await store.rows.insert("anthropic", login("bad@example.com"));
		raw(path)
			.prepare("UPDATE auth_credentials SET data = ? WHERE id = ?")
			.run('{"type":"oauth","access":"sk-ant-oat01-LEAKED-SECRET', bad.id);

		expect((await store.rows.listActive()).map((row) => row.id)).toEqual([good.id]);
		expect((await store.rows.listActive("anthropic")).map((row) => row.id)).toEqual([good.id]);
		expect(await store.rows.get(bad.id)).toBeNull();

		const warnings = lines.filter((line) => line.level === "warn");
		expect(warnings).toHaveLength(1);
		expect(warnings[0]!.fields).toMatchObject({ id: bad.id, provider: "anthropic" });
		expect(JSON.stringify(lines)).not.toContain("LEAKED");
		expect(JSON.stringify(lines)).not.toContain("access-token");

		expect(await store.listCorruptRows()).toEqual([
			{ id: bad.id, provider: "anthropic", active: true, reason: "data is not valid JSON", updatedAt: bad.updatedAt },
		]);

		// Writing the row again repairs it.
		await store.rows.update(bad.id, login("bad@example.com", 2));
		expect((await store.rows.listActive()).map((row) => row.id)).toEqual([good.id, bad.id]);
		expect(await store.listCorruptRows()).toEqual([]);
	});

	it("treats a parseable row that is not a credential as corrupt too", async () => {
		const path = join(dir, "auth.db");
		const store = await open({ path });
		const row = await store.rows.insert("openai", { type: "api_key", key: "sk-one" });
		raw(path).prepare("UPDATE auth_credentials SET data = ? WHERE id = ?").run('{"type":"oauth"}', row.id);
		expect(await store.rows.listActive()).toEqual([]);
		expect((await store.listCorruptRows()).map((report) => report.reason)).toEqual([
			"oauth credential without access/refresh",
		]);
	});
});

describe("lifecycle", () => {
	it("rejects every call after close with STORE_CLOSED, and closing twice is fine", async () => {
		const store = await open({ path: join(dir, "auth.db") });
		await store.close();
		await store.close();
		expect((await rejection(store.rows.listActive())).code).toBe("STORE_CLOSED");
		expect((await rejection(store.cache.get("k"))).code).toBe("STORE_CLOSED");
		expect(() => store.changes.revision()).toThrow(/closed/);
	});

	it("fails a write that stays locked past busyDeadlineMs with STORE_BUSY naming the operation, not the values", async () => {
		const path = join(dir, "auth.db");
		const store = await open({ path, busyTimeoutMs: 1, busyDeadlineMs: 250 });
		const holder = raw(path);
		holder.exec("BEGIN IMMEDIATE");
		let timerTicks = 0;
		const ticker = setInterval(() => timerTicks++, 5);
		const error = await rejection(store.rows.insert("anthropic", login("locked@example.com")));
		clearInterval(ticker);
		holder.exec("COMMIT");
		expect(error.code).toBe("STORE_BUSY");
		expect(error.message).toContain("insert");
		expect(error.message).toContain(path);
		expect(error.message).not.toContain("refresh-token");
		expect(error.message).not.toContain("access-token");
		// The wait ran on timers, not in SQLite's busy handler: other work kept running meanwhile.
		expect(timerTicks).toBeGreaterThan(2);
		// Once the lock is gone the same store writes again.
		expect((await store.rows.insert("anthropic", login("free@example.com"))).id).toBe(1);
	});

	it("wraps other driver failures in STORE_ERROR without the bound values", async () => {
		const path = join(dir, "auth.db");
		const store = await open({ path });
		const holder = raw(path);
		holder.exec("CREATE TRIGGER refuse BEFORE INSERT ON auth_credentials BEGIN SELECT RAISE(ABORT, 'refused'); END");
		const error = await rejection(store.rows.insert("anthropic", login("refused@example.com")));
		expect(error.code).toBe("STORE_ERROR");
		expect(error.message).toContain("refused");
		expect(error.message).not.toContain("refresh-token");
		expect(error.message).not.toContain("access-token");
	});
});

describe("credentials snapshotted once", () => {
	it("ignores toJSON: the stored row is the validated plain copy", async () => {
		const path = join(dir, "tojson.db");
		const store = await open({ path });
		const hostile = {
			type: "oauth",
			access: "test-access-1",
			refresh: "test-refresh-1",
			expires: 5,
			email: "a@x.io",
			toJSON: () => ({ type: "api_key", key: "test-key-swapped" }),
		};
		const { row } = await store.rows.upsertByIdentity("acme", hostile as never);
		const expected = { type: "oauth", access: "test-access-1", refresh: "test-refresh-1", expires: 5, email: "a@x.io" };
		expect(row.credential).toEqual(expected);
		await store.close();
		const reopened = await open({ path });
		expect((await reopened.rows.listActive()).map((entry) => entry.credential)).toEqual([expected]);
		const invalid = { type: "api_key", toJSON: () => ({ type: "api_key", key: "test-key-1" }) };
		await expect(reopened.rows.insert("acme", invalid as never)).rejects.toMatchObject({ code: "INVALID_INPUT" });
	});
});
