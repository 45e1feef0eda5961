import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type OAuthCredential, withEncryption } from "@authpool/core";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createSqliteStore } from "./index";

let dir: string;

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-enc-"));
});

afterEach(() => {
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

it("no token, key or email reaches the SQLite file or its WAL; identities still match", async () => {
	const path = join(dir, "auth.db");
	const store = withEncryption(await createSqliteStore({ path }), { keys, activeKeyId: "k1" });
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

	const reopened = withEncryption(await createSqliteStore({ path }), { keys, activeKeyId: "k1" });
	expect((await reopened.rows.listActive()).map((r) => r.credential)).toEqual([
		{ ...login, access: "test-access-enc-2" },
		{ type: "api_key", key: "test-api-key-enc-1" },
	]);
	await reopened.close();
});
