/**
 * Encryption at rest on Postgres: after a pool run (rotating refreshes, upsert, removal) a `pg_dump`
 * of the test schema (or, without `pg_dump`, every column read back as text) holds no token, key or
 * email the test created; a flipped byte, a moved value and a replayed version are typed errors
 * naming row and key id, the row is not served and not disabled, and the pool serves the others.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
	AuthpoolError,
	AuthStorage,
	type CredentialDisabledEvent,
	type OAuthCredential,
	OAuthRefreshError,
	type ProviderPlugin,
	rotateEncryptionKeys,
	withEncryption,
} from "@authpool/core";
import { adminQuery, dropSchema, randomSchema, testPostgresUrl } from "@authpool/test-services";
import { afterEach, expect, it } from "vitest";
import { createPostgresStore, type PostgresCredentialStore } from "./index";

const connectionString = testPostgresUrl();
// Obviously fake key: constant bytes.
const keys = new Map([["k1", Buffer.alloc(32, 0x6b)]]);
const opened: PostgresCredentialStore[] = [];
const schemas: string[] = [];

afterEach(async () => {
	for (const store of opened.splice(0)) await store.close();
	for (const schema of schemas.splice(0)) await dropSchema(schema);
});

async function openEncrypted(prefix: string) {
	const schema = randomSchema(prefix);
	schemas.push(schema);
	const inner = await createPostgresStore({ connectionString }, { schema });
	opened.push(inner);
	return { schema, store: withEncryption(inner, { keys, activeKeyId: "k1" }) };
}

/** The schema as `pg_dump` writes it; every column of every table as text when `pg_dump` is missing. */
async function dumpSchema(schema: string): Promise<string> {
	try {
		return execFileSync("pg_dump", ["--schema", schema, "--data-only", connectionString], {
			encoding: "utf8",
			stdio: ["ignore", "pipe", "pipe"],
		});
	} catch {
		const tables = await adminQuery<{ table_name: string }>(
			"SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
			[schema],
		);
		const parts: string[] = [];
		for (const { table_name } of tables) {
			const rows = await adminQuery(`SELECT t::text AS row FROM "${schema}"."${table_name}" t`);
			parts.push(...rows.map((row) => String(row.row)));
		}
		return parts.join("\n");
	}
}

/** Rotates the refresh token on every use; remembers every token it handed out. */
function rotatingPlugin(issued: string[]): ProviderPlugin {
	return {
		id: "rotating",
		oauth: {
			rotatesRefreshToken: true,
			async refresh() {
				const access = `test-access-${randomBytes(6).toString("hex")}`;
				const refresh = `test-refresh-${randomBytes(6).toString("hex")}`;
				issued.push(access, refresh);
				return { access, refresh, expires: Date.now() + 60_000 };
			},
		},
	};
}

async function caught(promise: Promise<unknown>): Promise<AuthpoolError> {
	const error = await promise.then(
		() => undefined,
		(value: unknown) => value,
	);
	expect(AuthpoolError.isInstance(error)).toBe(true);
	return error as AuthpoolError;
}

it("a dump of the schema after a pool run holds no token, key or email", async () => {
	const { schema, store } = await openEncrypted("encscan");
	const issued: string[] = [];
	const login: OAuthCredential = {
		type: "oauth",
		access: "test-access-pg-1",
		refresh: "test-refresh-pg-1",
		expires: Date.now() - 1,
		email: "pg-user@example.com",
		accountId: "acct-pg-scan-1",
	};
	const loginRow = await store.rows.insert("rotating", login);
	const storage = new AuthStorage(store, { providers: [rotatingPlugin(issued)] });
	await storage.reload();
	const served = await storage.getApiKey("rotating");
	expect(issued).toHaveLength(2);
	expect(served).toBe(issued[0]);
	// A second refresh, forced: the row's refresh token rotates again.
	await storage.refreshCredentialById(loginRow.id);
	expect(issued).toHaveLength(4);
	await storage.set("openai", { type: "api_key", key: "test-api-key-pg-1" });
	await storage.set("gone", { type: "api_key", key: "test-api-key-pg-gone" });
	await storage.remove("gone");
	expect(await storage.getApiKey("openai")).toBe("test-api-key-pg-1");

	const dump = await dumpSchema(schema);
	expect(dump).toContain("enc:v1:k1:");
	expect(dump).toContain("hmac:k1:");
	const secrets = [
		login.access,
		login.refresh,
		...issued,
		"pg-user@example.com",
		"acct-pg-scan-1",
		"test-api-key-pg-1",
		"test-api-key-pg-gone",
	];
	for (const secret of secrets) expect(dump).not.toContain(secret);
	await storage.close();
});

it("a flipped byte, a moved value and a replayed version: typed errors, not served, not disabled", async () => {
	const { schema, store } = await openEncrypted("enctamper");
	const table = `"${schema}".auth_credentials`;
	const apiKey = (key: string) => ({ type: "api_key" as const, key });
	const flipped = await store.rows.insert("openai", apiKey("test-api-key-flip"));
	const moved = await store.rows.insert("openai", apiKey("test-api-key-moved"));
	const intact = await store.rows.insert("openai", apiKey("test-api-key-intact"));
	const replayed = await store.rows.insert("openai", apiKey("test-api-key-replay-1"));
	const dataOf = async (id: number) =>
		(await adminQuery<{ data: string }>(`SELECT data FROM ${table} WHERE id = $1`, [id]))[0]!.data;
	const olderReplay = await dataOf(replayed.id);
	await store.rows.update(replayed.id, apiKey("test-api-key-replay-2"));

	const sealed = (JSON.parse(await dataOf(flipped.id)) as { key: string }).key;
	const at = sealed.length - 8;
	const flippedValue = `${sealed.slice(0, at)}${sealed[at] === "A" ? "B" : "A"}${sealed.slice(at + 1)}`;
	await adminQuery(`UPDATE ${table} SET data = replace(data, $1, $2) WHERE id = $3`, [
		sealed,
		flippedValue,
		flipped.id,
	]);
	await adminQuery(`UPDATE ${table} SET data = $1 WHERE id = $2`, [await dataOf(intact.id), moved.id]);
	await adminQuery(`UPDATE ${table} SET data = $1 WHERE id = $2`, [olderReplay, replayed.id]);

	// A second process (its own store and pool) reads the tampered table.
	const reader = withEncryption(
		await createPostgresStore({ connectionString }, { schema }).then((inner) => {
			opened.push(inner);
			return inner;
		}),
		{ keys, activeKeyId: "k1" },
	);
	const events: CredentialDisabledEvent[] = [];
	const storage = new AuthStorage(reader, { onCredentialDisabled: (event) => void events.push(event) });
	await storage.reload();
	const servedKeys = new Set<string | undefined>();
	for (let call = 0; call < 12; call++) servedKeys.add(await storage.getApiKey("openai", `session-${call}`));
	expect([...servedKeys]).toEqual(["test-api-key-intact"]);
	for (const id of [flipped.id, moved.id, replayed.id]) {
		const error = await caught(reader.rows.get(id));
		expect(error.code).toBe("DECRYPTION_FAILED");
		expect(error.message).toContain(`row ${id}`);
		expect(error.message).toContain('"k1"');
		expect(error.message).not.toContain("test-api-key");
		expect(error.details).toMatchObject({ id, keyId: "k1", field: "key" });
	}
	expect((await reader.encryption.listUndecryptableRows()).map((report) => [report.id, report.code])).toEqual([
		[flipped.id, "DECRYPTION_FAILED"],
		[moved.id, "DECRYPTION_FAILED"],
		[replayed.id, "DECRYPTION_FAILED"],
	]);
	await storage.pollChanges();
	expect(events).toEqual([]);
	const states = await adminQuery<{ id: number; disabled_cause: string | null }>(
		`SELECT id, disabled_cause FROM ${table} ORDER BY id`,
	);
	expect(states.map((row) => [Number(row.id), row.disabled_cause])).toEqual(
		[flipped.id, moved.id, intact.id, replayed.id].map((id) => [id, null]),
	);
	await storage.close();
});

/** A token endpoint in memory: rotates the refresh token on every use, answers a reused one `invalid_grant`. */
function rotatingEndpoint(ttlMs: number) {
	const live = new Map<string, string>();
	const counts = { rotated: 0, reused: 0 };
	const plugin: ProviderPlugin = {
		id: "rotating",
		oauth: {
			rotatesRefreshToken: true,
			async refresh(credential) {
				const account = String(credential.accountId);
				// A network round trip: lets refreshes and the rotation pass interleave.
				await new Promise((resolve) => setTimeout(resolve, 5));
				if (live.get(account) !== credential.refresh) {
					counts.reused++;
					throw new OAuthRefreshError("refresh token rejected", {
						provider: "rotating",
						definitive: true,
						status: 400,
						errorCode: "invalid_grant",
					});
				}
				counts.rotated++;
				const refresh = `test-refresh-${account}-${counts.rotated}`;
				live.set(account, refresh);
				return { access: `test-access-${account}-${counts.rotated}`, refresh, expires: Date.now() + ttlMs };
			},
		},
	};
	const grant = (account: string) => {
		const refresh = `test-refresh-${account}-0`;
		live.set(account, refresh);
		return {
			type: "oauth" as const,
			access: `test-access-${account}-0`,
			refresh,
			expires: Date.now() + ttlMs,
			accountId: account,
		};
	};
	return { plugin, grant, counts };
}

it("4 pools refresh rotating tokens while keys rotate: every row under the new key, 0 tokens lost or reused", async () => {
	const schema = randomSchema("encrot");
	schemas.push(schema);
	const open = async () => {
		const inner = await createPostgresStore({ connectionString }, { schema });
		opened.push(inner);
		return inner;
	};
	const OLD = Buffer.alloc(32, 0x01);
	const NEW = Buffer.alloc(32, 0x02);
	const both = new Map([
		["old", OLD],
		["new", NEW],
	]);
	const endpoint = rotatingEndpoint(1_500);
	const seed = withEncryption(await open(), { keys: new Map([["old", OLD]]), activeKeyId: "old" });
	const accounts = ["acct-p1", "acct-p2", "acct-p3", "acct-p4"];
	for (const account of accounts) await seed.rows.insert("rotating", endpoint.grant(account));
	for (let n = 0; n < 60; n++) await seed.rows.insert("filler", { type: "api_key", key: `test-filler-key-${n}` });
	const gone = await seed.rows.insert("filler", { type: "api_key", key: "test-filler-key-gone" });
	await seed.rows.disable(gone.id, "deleted by user");

	const events: CredentialDisabledEvent[] = [];
	const pools = await Promise.all(
		[0, 1, 2, 3].map(async () => {
			const storage = new AuthStorage(withEncryption(await open(), { keys: both, activeKeyId: "new" }), {
				providers: [endpoint.plugin],
				refreshSkewMs: 1_000,
				onCredentialDisabled: (event) => void events.push(event),
			});
			await storage.reload();
			return storage;
		}),
	);
	const deadline = Date.now() + 3_000;
	let served = 0;
	const traffic = pools.map(async (storage) => {
		while (Date.now() < deadline) {
			if ((await storage.getApiKey("rotating")) !== undefined) served++;
			await new Promise((resolve) => setTimeout(resolve, 2));
		}
	});
	await new Promise((resolve) => setTimeout(resolve, 600));
	const rotator = withEncryption(await open(), { keys: both, activeKeyId: "new" });
	const result = await rotateEncryptionKeys(rotator, { batchSize: 4 });
	await Promise.all(traffic);
	for (const storage of pools) await storage.close();
	console.log(
		`postgres rotation under load: resealed ${result.resealed}, skipped ${result.skipped}, ` +
			`${endpoint.counts.rotated} token rotations, ${served} keys served`,
	);

	expect(result).toMatchObject({ failed: [], disabledPending: [] });
	expect(result.resealed + result.skipped).toBe(accounts.length + 61);
	expect(endpoint.counts.reused).toBe(0);
	expect(endpoint.counts.rotated).toBeGreaterThanOrEqual(accounts.length);
	expect(events).toEqual([]);
	const dump = await dumpSchema(schema);
	expect(dump.includes("enc:v1:old:"), "value under the old key").toBe(false);
	expect(dump.includes("hmac:old:"), "identity under the old key").toBe(false);
	const onlyNew = withEncryption(await open(), { keys: new Map([["new", NEW]]), activeKeyId: "new" });
	expect(await onlyNew.encryption.listUndecryptableRows()).toEqual([]);
	expect((await onlyNew.rows.listDisabled()).map((row) => row.id)).toEqual([gone.id]);
	// Each stored refresh token is still the live one: one more refresh of every row succeeds.
	const check = new AuthStorage(onlyNew, { providers: [endpoint.plugin] });
	await check.reload();
	for (const row of await onlyNew.rows.listActive("rotating")) await check.refreshCredentialById(row.id);
	expect(endpoint.counts.reused).toBe(0);
	await check.close();
});
