/**
 * Encryption at rest on a real SQLite file: after a pool run (refresh, upsert, removal) neither the
 * database nor its WAL / shared-memory files hold a token, key or email the test created; a byte
 * flipped in the file, a sealed value moved to another row and a replayed older version are each a
 * typed error naming row and key id: the row is not served, not disabled, and the pool serves the rest.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	AuthpoolError,
	AuthStorage,
	type CredentialDisabledEvent,
	type OAuthCredential,
	withEncryption,
} from "@authpool/core";
import BetterSqlite3 from "better-sqlite3";
import { afterEach, beforeEach, expect, it } from "vitest";
import { grantCredential, PROVIDER, REFRESH_SKEW_MS, rotatingPlugin } from "../test/rotating-plugin";
import { type RotatingTokenServer, startRotatingTokenServer } from "../test/rotating-token-server";
import { createSqliteStore } from "./index";

let dir: string;
let server: RotatingTokenServer | undefined;

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-enc-"));
});

afterEach(async () => {
	await server?.close();
	server = undefined;
	rmSync(dir, { recursive: true, force: true });
});

// Obviously fake key: constant bytes.
const keys = new Map([["k1", Buffer.alloc(32, 0x5a)]]);
const SECRETS = [
	"test-access-enc-1",
	"test-refresh-enc-1",
	"test-access-enc-2",
	"test-api-key-enc-1",
	"ada@example.com",
];

/** Every byte of the database and its WAL / shared-memory files that exist right now. */
function diskBytes(path: string): string {
	return ["", "-wal", "-shm"]
		.map((suffix) => path + suffix)
		.filter((file) => existsSync(file))
		.map((file) => readFileSync(file).toString("latin1"))
		.join("\n");
}

async function openEncrypted(path: string) {
	return withEncryption(await createSqliteStore({ path }), { keys, activeKeyId: "k1" });
}

async function caught(promise: Promise<unknown>): Promise<AuthpoolError> {
	const error = await promise.then(
		() => undefined,
		(value: unknown) => value,
	);
	expect(AuthpoolError.isInstance(error)).toBe(true);
	return error as AuthpoolError;
}

it("no token, key or email reaches the SQLite file or its WAL; identities still match", async () => {
	const path = join(dir, "auth.db");
	const store = await openEncrypted(path);
	const login: OAuthCredential = {
		type: "oauth",
		access: "test-access-enc-1",
		refresh: "test-refresh-enc-1",
		expires: 5_000_000,
		email: "ada@example.com",
	};
	const row = await store.rows.insert("anthropic", login);
	await store.rows.insert("openai", { type: "api_key", key: "test-api-key-enc-1" });
	// Matched through the HMAC identity column: the same row, updated in place.
	const upserted = await store.rows.upsertByIdentity("anthropic", { ...login, access: "test-access-enc-2" });
	expect(upserted).toMatchObject({ inserted: false, row: { id: row.id, version: 2 } });
	expect((await store.rows.get(row.id))?.credential).toMatchObject({ access: "test-access-enc-2" });

	const live = diskBytes(path);
	expect(live).toContain("enc:v1:k1:");
	for (const secret of SECRETS) expect(live).not.toContain(secret);
	await store.close();
	const closed = diskBytes(path);
	expect(closed).toContain("hmac:k1:");
	for (const secret of SECRETS) expect(closed).not.toContain(secret);

	const reopened = await openEncrypted(path);
	expect((await reopened.rows.listActive()).map((r) => r.credential)).toEqual([
		{ ...login, access: "test-access-enc-2" },
		{ type: "api_key", key: "test-api-key-enc-1" },
	]);
	await reopened.close();
});

it("after a pool run (rotating refresh, upsert, removal) the file, WAL and -shm hold no secret it saw", async () => {
	server = await startRotatingTokenServer(60_000);
	const path = join(dir, "auth.db");
	const store = await openEncrypted(path);
	const grant = server.addAccount("acct-scan-1");
	// Expired on arrival: the first call refreshes, and the token endpoint rotates the refresh token.
	const login = { ...grantCredential(grant), expires: Date.now() - 1, email: "scan-user@example.com" };
	const loginRow = await store.rows.insert(PROVIDER, login);
	const storage = new AuthStorage(store, {
		providers: [rotatingPlugin(server.url, "scan")],
		refreshSkewMs: REFRESH_SKEW_MS,
	});
	await storage.reload();
	await storage.set("openai", { type: "api_key", key: "test-api-key-scan-1" });
	await storage.set("gone", { type: "api_key", key: "test-api-key-scan-gone" });
	const served = await storage.getApiKey(PROVIDER);
	expect(served).not.toBe(grant.access);
	expect(server.rotations("acct-scan-1")).toBe(1);
	expect(await storage.getApiKey("openai")).toBe("test-api-key-scan-1");
	await storage.remove("gone");

	const current = (await store.rows.get(loginRow.id))!.credential as OAuthCredential;
	expect(current.access).toBe(served);
	const secrets = [
		grant.access,
		grant.refresh,
		current.access,
		current.refresh,
		"acct-scan-1",
		"scan-user@example.com",
		"test-api-key-scan-1",
		"test-api-key-scan-gone",
	];
	expect(new Set(secrets).size).toBe(secrets.length);
	const live = diskBytes(path);
	expect(existsSync(`${path}-wal`)).toBe(true);
	expect(live).toContain("enc:v1:k1:");
	for (const secret of secrets) expect(live, "open database").not.toContain(secret);
	await storage.close();
	await store.close();
	for (const secret of secrets) expect(diskBytes(path), "closed database").not.toContain(secret);
});

/** Raw `data` JSON and version of a row, straight from the file. */
function rawRow(db: BetterSqlite3.Database, id: number): { data: string; version: number } {
	return db.prepare("SELECT data, version FROM auth_credentials WHERE id = ?").get(id) as {
		data: string;
		version: number;
	};
}

it("a flipped byte, a moved value and a replayed version: typed errors, not served, not disabled", async () => {
	const path = join(dir, "auth.db");
	const writer = await openEncrypted(path);
	const apiKey = (key: string) => ({ type: "api_key" as const, key });
	const flipped = await writer.rows.insert("openai", apiKey("test-api-key-flip"));
	const moved = await writer.rows.insert("openai", apiKey("test-api-key-moved"));
	const intact = await writer.rows.insert("openai", apiKey("test-api-key-intact"));
	const replayed = await writer.rows.insert("openai", apiKey("test-api-key-replay-1"));
	await writer.close();

	// Between versions of `replayed`, keep its older sealed value to replay later.
	const db = new BetterSqlite3(path);
	const olderReplay = rawRow(db, replayed.id).data;
	db.close();
	const second = await openEncrypted(path);
	await second.rows.update(replayed.id, apiKey("test-api-key-replay-2"));
	await second.close();

	// One byte of the sealed key flipped in the file itself (the WAL is checkpointed on close).
	expect(existsSync(`${path}-wal`) ? readFileSync(`${path}-wal`).length : 0).toBe(0);
	const sealed = (JSON.parse(rawRow(new BetterSqlite3(path, { readonly: true }), flipped.id).data) as { key: string })
		.key;
	const file = readFileSync(path);
	const at = file.indexOf(sealed, 0, "latin1");
	expect(at).toBeGreaterThan(0);
	expect(file.indexOf(sealed, at + 1, "latin1")).toBe(-1);
	const target = at + sealed.length - 8;
	file[target] = file[target] === 0x41 ? 0x42 : 0x41;
	writeFileSync(path, file);

	// The intact row's sealed value copied into another row, and an older version replayed in place.
	const edit = new BetterSqlite3(path);
	edit.prepare("UPDATE auth_credentials SET data = ? WHERE id = ?").run(rawRow(edit, intact.id).data, moved.id);
	edit.prepare("UPDATE auth_credentials SET data = ? WHERE id = ?").run(olderReplay, replayed.id);
	edit.close();

	const store = await openEncrypted(path);
	const events: CredentialDisabledEvent[] = [];
	const storage = new AuthStorage(store, { onCredentialDisabled: (event) => void events.push(event) });
	await storage.reload();
	const servedKeys = new Set<string | undefined>();
	for (let call = 0; call < 12; call++) servedKeys.add(await storage.getApiKey("openai", `session-${call}`));
	expect([...servedKeys]).toEqual(["test-api-key-intact"]);

	for (const id of [flipped.id, moved.id, replayed.id]) {
		const error = await caught(store.rows.get(id));
		expect(error.code).toBe("DECRYPTION_FAILED");
		expect(error.message).toContain(`row ${id}`);
		expect(error.message).toContain('"k1"');
		expect(error.message).not.toContain("test-api-key");
		expect(error.details).toMatchObject({ id, keyId: "k1", field: "key" });
	}
	expect(await store.encryption.listUndecryptableRows()).toEqual(
		[flipped.id, moved.id, replayed.id].map((id) => ({
			id,
			provider: "openai",
			active: true,
			keyId: "k1",
			field: "key",
			code: "DECRYPTION_FAILED",
		})),
	);
	// Not disabled: no event, no tombstone, every row still active in the file.
	await storage.pollChanges();
	expect(events).toEqual([]);
	expect(await store.encryption.inner.rows.listDisabled()).toEqual([]);
	expect((await store.encryption.inner.rows.listActive()).map((row) => row.id)).toEqual([
		flipped.id,
		moved.id,
		intact.id,
		replayed.id,
	]);
	await storage.close();
	await store.close();
});
