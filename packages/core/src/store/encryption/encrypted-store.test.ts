import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AuthpoolError } from "../../errors";
import type { AuthCredential, OAuthCredential, StoredAuthCredential } from "../../types";
import { createMemoryStore } from "../memory-store";
import { type AuthCredentialStore, DISABLED_BY_USER } from "../store";
import { pluginSecretFields, withEncryption } from "./encrypted-store";
import { loadEncryptionKeyFile, parseEncryptionKeys } from "./keys";
import { rotateEncryptionKeys, sealPlaintextRows } from "./rotate";
import { bindingOfRow, deriveKey, identityHmac, sealValue } from "./seal";

// Obviously fake keys: constant bytes.
const OLD = Buffer.alloc(32, 0x11);
const NEW = Buffer.alloc(32, 0x22);

function oauth(email: string, n = 1): OAuthCredential {
	return { type: "oauth", access: `test-access-${n}`, refresh: `test-refresh-${n}`, expires: 5_000_000, email };
}

async function caught(promise: Promise<unknown>): Promise<AuthpoolError> {
	const error = await promise.then(
		() => undefined,
		(value: unknown) => value,
	);
	expect(AuthpoolError.isInstance(error)).toBe(true);
	return error as AuthpoolError;
}

function setup(keys: Map<string, Buffer> = new Map([["k1", NEW]]), activeKeyId = "k1") {
	const inner = createMemoryStore();
	return { inner, store: withEncryption(inner, { keys, activeKeyId }) };
}

/** Every string the raw (sealed) rows hold, for "no plaintext at rest" checks. */
async function rawText(inner: AuthCredentialStore): Promise<string> {
	return JSON.stringify([...(await inner.rows.listActive()), ...(await inner.rows.listDisabled())]);
}

/** A view of `inner` whose reads flip one character of every sealed `access` value (tampering at rest). */
function tampering(inner: AuthCredentialStore, enabled: () => boolean = () => true): AuthCredentialStore {
	const flip = (row: StoredAuthCredential | null): StoredAuthCredential | null => {
		if (row?.credential.type !== "oauth" || !enabled()) return row;
		const access = row.credential.access;
		const at = access.length - 10;
		const swapped = `${access.slice(0, at)}${access[at] === "A" ? "B" : "A"}${access.slice(at + 1)}`;
		return { ...row, credential: { ...row.credential, access: swapped } };
	};
	return {
		...inner,
		rows: {
			...inner.rows,
			get: async (id) => flip(await inner.rows.get(id)),
			listActive: async (provider) => (await inner.rows.listActive(provider)).map((row) => flip(row)!),
			listDisabled: async (provider) => (await inner.rows.listDisabled(provider)).map((row) => flip(row)!),
		},
	};
}

describe("withEncryption", () => {
	it("round-trips credentials while the inner store holds only sealed values and an identity HMAC", async () => {
		const { inner, store } = setup();
		const login = oauth("ada@example.com");
		const key: AuthCredential = { type: "api_key", key: "test-api-key-1" };
		const a = await store.rows.insert("anthropic", login);
		const k = await store.rows.insert("openai", key);
		expect(a.credential).toEqual(login);
		expect(a.identityKey).toBe("email:ada@example.com");
		expect(await store.rows.get(k.id)).toMatchObject({ credential: key, version: 1 });
		const updated = await store.rows.update(a.id, oauth("ada@example.com", 2));
		expect(updated).toMatchObject({ version: 2, credential: oauth("ada@example.com", 2) });

		const raw = (await inner.rows.get(a.id))!;
		expect(raw.identityKey).toMatch(/^hmac:k1:[0-9a-f]{64}$/);
		// One GCM bundle for all secret fields, in the first by name; the others refer to it.
		expect((raw.credential as OAuthCredential).access).toMatch(/^enc:v1:k1:\*[A-Za-z0-9_-]+$/);
		expect((raw.credential as OAuthCredential).refresh).toBe("enc:v1:k1:=");
		expect((raw.credential as OAuthCredential).email).toBe("enc:v1:k1:=");
		const text = await rawText(inner);
		for (const secret of ["test-access-2", "test-refresh-2", "test-api-key-1", "ada@example.com"]) {
			expect(text).not.toContain(secret);
		}
		// Identity matching still works through the HMAC: same email → same row.
		const again = await store.rows.upsertByIdentity("anthropic", oauth("ada@example.com", 3));
		expect(again).toMatchObject({ inserted: false, row: { id: a.id, version: 3 } });
	});

	it("rejects bad options and bad input with typed errors", async () => {
		expect(() => withEncryption(createMemoryStore(), { keys: new Map([["k1", NEW]]), activeKeyId: "nope" })).toThrow(
			expect.objectContaining({ code: "INVALID_OPTIONS" }),
		);
		expect(() =>
			withEncryption(createMemoryStore(), { keys: new Map([["k1", Buffer.alloc(16)]]), activeKeyId: "k1" }),
		).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
		const { store } = setup();
		const error = await caught(store.rows.insert("anthropic", { type: "oauth" } as unknown as AuthCredential));
		expect(error.code).toBe("INVALID_INPUT");
	});

	it("a tampered byte is a typed error: the row is not served, reported, and not disabled", async () => {
		const { inner } = setup();
		const writer = withEncryption(inner, { keys: new Map([["k1", NEW]]), activeKeyId: "k1" });
		const row = await writer.rows.insert("anthropic", oauth("ada@example.com"));
		let tampered = false;
		const reader = withEncryption(
			tampering(inner, () => tampered),
			{ keys: new Map([["k1", NEW]]), activeKeyId: "k1" },
		);
		// Read once intact first: a remembered plaintext must not hide the later tampering.
		expect((await reader.rows.listActive()).map((r) => r.id)).toEqual([row.id]);
		tampered = true;
		const error = await caught(reader.rows.get(row.id));
		expect(error.code).toBe("DECRYPTION_FAILED");
		expect(error.message).toContain(`row ${row.id}`);
		expect(error.message).toContain('"k1"');
		expect(error.message).not.toContain("test-access");
		expect(await reader.rows.listActive()).toEqual([]);
		expect(await reader.encryption.listUndecryptableRows()).toEqual([
			{ id: row.id, provider: "anthropic", active: true, keyId: "k1", field: "access", code: "DECRYPTION_FAILED" },
		]);
		expect((await inner.rows.get(row.id))?.disabledCause).toBeNull();
	});

	it("any single byte changed in a sealed value, prefix included, is a typed error, never served", async () => {
		const { inner, store } = setup();
		const row = await store.rows.insert("openai", { type: "api_key", key: "test-api-key-1" });
		await store.rows.update(row.id, { type: "api_key", key: "test-api-key-2" });
		const raw = (await inner.rows.get(row.id))!;
		const sealed = (raw.credential as { key: string }).key;
		const codes = new Set<string>();
		for (let at = 0; at < sealed.length; at++) {
			const swapped = `${sealed.slice(0, at)}${sealed[at] === "x" ? "y" : "x"}${sealed.slice(at + 1)}`;
			// Each damaged variant is read by a fresh process (nothing remembered from an intact read).
			const reader = withEncryption(
				{
					...inner,
					rows: { ...inner.rows, get: async () => ({ ...raw, credential: { type: "api_key", key: swapped } }) },
				},
				{ keys: new Map([["k1", NEW]]), activeKeyId: "k1" },
			);
			const error = await caught(reader.rows.get(row.id));
			expect(["DECRYPTION_FAILED", "UNKNOWN_KEY"], `byte ${at}`).toContain(error.code);
			expect(error.message).toContain(`row ${row.id}`);
			expect(error.message).not.toContain("test-api-key");
			codes.add(error.code);
		}
		expect([...codes].sort()).toEqual(["DECRYPTION_FAILED", "UNKNOWN_KEY"]);
		// A plaintext secret put into a sealed row is refused too (wholly plaintext rows read: migration test).
		const planted = withEncryption(
			{
				...inner,
				rows: {
					...inner.rows,
					get: async () => ({ ...raw, credential: { type: "api_key", key: "test-api-key-planted" } }),
				},
			},
			{ keys: new Map([["k1", NEW]]), activeKeyId: "k1" },
		);
		expect(await caught(planted.rows.get(row.id))).toMatchObject({
			code: "DECRYPTION_FAILED",
			details: { id: row.id, keyId: "k1", field: "key" },
		});
	});

	it("another spelling of the same payload bytes (padding, spare bits, standard alphabet) is refused", async () => {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		const spellings = new Set<string>();
		for (const key of ["test-api-key-1", "test-api-key-12", "test-api-key-123", "test-api-key-1234"]) {
			const { inner, store } = setup();
			const row = await store.rows.insert("openai", { type: "api_key", key });
			const raw = (await inner.rows.get(row.id))!;
			const sealed = (raw.credential as { key: string }).key;
			const head = sealed.slice(0, sealed.indexOf("*") + 1);
			const payload = sealed.slice(head.length);
			const variants: Array<[string, string]> = [["padding", `${payload}=`]];
			const rest = payload.length % 4;
			if (rest !== 0) {
				const last = alphabet.indexOf(payload.at(-1)!);
				variants.push(["spare bits", `${payload.slice(0, -1)}${alphabet[last ^ 1]}`]);
			}
			const urlChar = payload.search(/[-_]/);
			if (urlChar >= 0) {
				const standard = payload[urlChar] === "-" ? "+" : "/";
				variants.push(["standard alphabet", `${payload.slice(0, urlChar)}${standard}${payload.slice(urlChar + 1)}`]);
			}
			for (const [name, variant] of variants) {
				// Node's decoder reads the variant as the same bytes: only the wrapper's own check refuses it.
				expect(Buffer.from(variant, "base64url").equals(Buffer.from(payload, "base64url")), name).toBe(true);
				spellings.add(name);
				const reader = withEncryption(
					{
						...inner,
						rows: {
							...inner.rows,
							get: async () => ({ ...raw, credential: { type: "api_key", key: `${head}${variant}` } }),
						},
					},
					{ keys: new Map([["k1", NEW]]), activeKeyId: "k1" },
				);
				expect((await caught(reader.rows.get(row.id))).code, name).toBe("DECRYPTION_FAILED");
			}
			expect((await store.rows.get(row.id))?.credential).toEqual({ type: "api_key", key });
		}
		expect([...spellings].sort()).toEqual(["padding", "spare bits", "standard alphabet"]);
	});

	it("a bundle opens only with exactly its fields; single sealed values (one per field) still open", async () => {
		const { inner, store } = setup();
		const row = await store.rows.insert("anthropic", oauth("a@example.com"));
		const raw = (await inner.rows.get(row.id))!;
		const reading = (credential: Record<string, unknown>) =>
			withEncryption(
				{
					...inner,
					rows: { ...inner.rows, get: async () => ({ ...raw, credential: credential as unknown as AuthCredential }) },
				},
				{ keys: new Map([["k1", NEW]]), activeKeyId: "k1" },
			).rows.get(row.id);
		const stored = raw.credential as unknown as Record<string, unknown>;
		const { email: _email, ...withoutEmail } = stored;
		for (const damaged of [
			withoutEmail,
			{ ...stored, access: "enc:v1:k1:=" },
			{ ...stored, refresh: stored.access },
			{ ...stored, projectId: "enc:v1:k1:=" },
		]) {
			expect(await caught(reading(damaged))).toMatchObject({ code: "DECRYPTION_FAILED", details: { id: row.id } });
		}
		// The single-value format: each field its own message, bound to its field name.
		const key = deriveKey("k1", NEW);
		const binding = bindingOfRow(raw);
		const single = {
			...stored,
			access: sealValue(key, binding, "access", "test-access-1"),
			refresh: sealValue(key, binding, "refresh", "test-refresh-1"),
			email: sealValue(key, binding, "email", "a@example.com"),
		};
		expect((await reading(single))?.credential).toEqual(oauth("a@example.com"));
		const swapped = { ...single, access: single.refresh, refresh: single.access };
		expect(await caught(reading(swapped))).toMatchObject({ code: "DECRYPTION_FAILED" });
	});

	it("a sealed value moved to another row fails to open", async () => {
		const { inner, store } = setup();
		const a = await store.rows.update(
			(await store.rows.insert("anthropic", oauth("a@example.com"))).id,
			oauth("a@example.com", 2),
		);
		const b = await store.rows.insert("anthropic", oauth("b@example.com"));
		const rawA = (await inner.rows.get(a!.id))!;
		const rawB = (await inner.rows.get(b.id))!;
		const stolen = { ...rawB.credential, access: (rawA.credential as OAuthCredential).access } as AuthCredential;
		expect((await inner.rows.compareAndSet(b.id, rawB.version, stolen)).ok).toBe(true);
		expect((await caught(store.rows.get(b.id))).code).toBe("DECRYPTION_FAILED");
		expect((await store.rows.listActive()).map((row) => row.id)).toEqual([a!.id]);
	});

	it("a row rolled back to an older sealed value fails to open", async () => {
		const { inner, store } = setup();
		const row = await store.rows.insert("anthropic", oauth("a@example.com"));
		await store.rows.update(row.id, oauth("a@example.com", 2));
		const older = (await inner.rows.get(row.id))!;
		await store.rows.update(row.id, oauth("a@example.com", 3));
		const current = (await inner.rows.get(row.id))!;
		expect((await inner.rows.compareAndSet(row.id, current.version, older.credential)).ok).toBe(true);
		const error = await caught(store.rows.get(row.id));
		expect(error.code).toBe("DECRYPTION_FAILED");
		expect(error.details).toMatchObject({ id: row.id, keyId: "k1" });
	});

	it("a row under a key it does not have is UNKNOWN_KEY, left out of listings", async () => {
		const { inner } = setup(new Map([["old", OLD]]), "old");
		const writer = withEncryption(inner, { keys: new Map([["old", OLD]]), activeKeyId: "old" });
		const row = await writer.rows.insert("anthropic", oauth("a@example.com"));
		const reader = withEncryption(inner, { keys: new Map([["k1", NEW]]), activeKeyId: "k1" });
		const error = await caught(reader.rows.get(row.id));
		expect(error).toMatchObject({ code: "UNKNOWN_KEY", details: { id: row.id, keyId: "old" } });
		expect(await reader.rows.listActive()).toEqual([]);
	});

	it("an identity write whose predicted row moved meanwhile is re-sealed, never left unreadable", async () => {
		const inner = createMemoryStore();
		const other = withEncryption(inner, { keys: new Map([["k1", NEW]]), activeKeyId: "k1" });
		const row = await other.rows.insert("anthropic", oauth("a@example.com"));
		await other.rows.insert("anthropic", oauth("b@example.com"));
		// Another process writes both rows between this wrapper's prediction and the store's identity write.
		const racing: AuthCredentialStore = {
			...inner,
			rows: {
				...inner.rows,
				upsertByIdentity: async (provider, credential) => {
					await other.rows.update(row.id, oauth("a@example.com", 5));
					return inner.rows.upsertByIdentity(provider, credential);
				},
				replaceProvider: async (provider, credentials) => {
					await other.rows.update(row.id, oauth("a@example.com", 6));
					return inner.rows.replaceProvider(provider, credentials);
				},
			},
		};
		const store = withEncryption(racing, { keys: new Map([["k1", NEW]]), activeKeyId: "k1" });
		const upserted = await store.rows.upsertByIdentity("anthropic", oauth("a@example.com", 7));
		expect(upserted).toMatchObject({ inserted: false, row: { id: row.id, credential: oauth("a@example.com", 7) } });
		expect((await other.rows.get(row.id))?.credential).toEqual(oauth("a@example.com", 7));
		const replaced = await store.rows.replaceProvider("anthropic", [oauth("a@example.com", 8), oauth("c@example.com")]);
		expect(replaced.map((r) => r.credential)).toEqual([oauth("a@example.com", 8), oauth("c@example.com")]);
		expect(await other.encryption.listUndecryptableRows()).toEqual([]);
		expect((await other.rows.listActive()).map((r) => r.credential)).toEqual([
			oauth("a@example.com", 8),
			oauth("c@example.com"),
		]);
	});

	it("seals fields plugins declare secret", async () => {
		const secretFields = pluginSecretFields([{ secretFields: ["sessionCookie"] }, {}]);
		const inner = createMemoryStore();
		const store = withEncryption(inner, { keys: new Map([["k1", NEW]]), activeKeyId: "k1", secretFields });
		const login = { ...oauth("a@example.com"), sessionCookie: "test-cookie-1", plan: "pro" };
		const row = await store.rows.insert("anthropic", login);
		expect(row.credential).toEqual(login);
		const raw = (await inner.rows.get(row.id))!.credential as unknown as Record<string, unknown>;
		expect(raw.sessionCookie).toMatch(/^enc:v1:k1:/);
		expect(raw.plan).toBe("pro");
	});

	it("disabled rows (tombstones) still open", async () => {
		const { store } = setup();
		const row = await store.rows.insert("anthropic", oauth("a@example.com"));
		await store.rows.update(row.id, oauth("a@example.com", 2));
		await store.rows.disable(row.id, "gone");
		expect(await store.rows.listDisabled()).toMatchObject([{ id: row.id, credential: oauth("a@example.com", 2) }]);
	});
});

describe("rotateEncryptionKeys", () => {
	it("re-seals every active row under the active key in batches, and is idempotent", async () => {
		const inner = createMemoryStore();
		const before = withEncryption(inner, { keys: new Map([["old", OLD]]), activeKeyId: "old" });
		for (let n = 1; n <= 5; n++) await before.rows.insert("anthropic", oauth(`u${n}@example.com`, n));
		const after = withEncryption(inner, {
			keys: new Map([
				["old", OLD],
				["k1", NEW],
			]),
			activeKeyId: "k1",
		});
		expect(await rotateEncryptionKeys(after, { batchSize: 2 })).toEqual({
			resealed: 5,
			skipped: 0,
			failed: [],
			disabledPending: [],
		});
		expect(await rawText(inner)).not.toContain("enc:v1:old:");
		expect(await rawText(inner)).not.toContain("hmac:old:");
		const onlyNew = withEncryption(inner, { keys: new Map([["k1", NEW]]), activeKeyId: "k1" });
		expect((await onlyNew.rows.listActive()).map((row) => row.credential)).toEqual(
			[1, 2, 3, 4, 5].map((n) => oauth(`u${n}@example.com`, n)),
		);
		expect(await rotateEncryptionKeys(after, { batchSize: 2 })).toMatchObject({ resealed: 0, skipped: 5 });
		await expect(rotateEncryptionKeys(after, { batchSize: 0 })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
	});

	it("re-seals tombstones too (they stay disabled and open under the new key alone)", async () => {
		const inner = createMemoryStore();
		const before = withEncryption(inner, { keys: new Map([["old", OLD]]), activeKeyId: "old" });
		const first = await before.rows.insert("anthropic", oauth("a@example.com"));
		await before.rows.update(first.id, oauth("a@example.com", 2));
		// A deliberate removal, so re-adding the identity supersedes (purges) its tombstone below.
		await before.rows.disable(first.id, DISABLED_BY_USER);
		const fresh = await before.rows.insert("anthropic", oauth("b@example.com"));
		await before.rows.disable(fresh.id, "gone too");
		const both = new Map([
			["old", OLD],
			["k1", NEW],
		]);
		const after = withEncryption(inner, { keys: both, activeKeyId: "k1" });
		expect(await rotateEncryptionKeys(after)).toEqual({ resealed: 2, skipped: 0, failed: [], disabledPending: [] });
		expect(await rawText(inner)).not.toMatch(/enc:v1:old:|hmac:old:/);
		const onlyNew = withEncryption(inner, { keys: new Map([["k1", NEW]]), activeKeyId: "k1" });
		expect(await onlyNew.rows.listActive()).toEqual([]);
		expect((await onlyNew.rows.listDisabled()).map((row) => [row.id, row.disabledCause, row.credential])).toEqual([
			[first.id, DISABLED_BY_USER, oauth("a@example.com", 2)],
			[fresh.id, "gone too", oauth("b@example.com")],
		]);
		// The re-sealed tombstone keeps its identity under the new HMAC: re-adding the login purges it.
		await onlyNew.rows.upsertByIdentity("anthropic", oauth("a@example.com", 3));
		expect((await onlyNew.rows.listDisabled()).map((row) => row.id)).toEqual([fresh.id]);
		expect(await rotateEncryptionKeys(after)).toMatchObject({ resealed: 0, disabledPending: [] });
	});

	it("a store without compareAndSetDisabled reports its old-key tombstones as pending, untouched", async () => {
		const inner = createMemoryStore();
		const before = withEncryption(inner, { keys: new Map([["old", OLD]]), activeKeyId: "old" });
		const row = await before.rows.insert("anthropic", oauth("a@example.com"));
		await before.rows.disable(row.id, "gone");
		const { compareAndSetDisabled: _dropped, ...rowsWithout } = inner.rows;
		const limited: AuthCredentialStore = { ...inner, rows: rowsWithout };
		const after = withEncryption(limited, {
			keys: new Map([
				["old", OLD],
				["k1", NEW],
			]),
			activeKeyId: "k1",
		});
		expect(after.rows.compareAndSetDisabled).toBeUndefined();
		const raw = await inner.rows.get(row.id);
		expect(await rotateEncryptionKeys(after)).toEqual({
			resealed: 0,
			skipped: 0,
			failed: [],
			disabledPending: [row.id],
		});
		expect(await inner.rows.get(row.id)).toEqual(raw);
	});

	it("re-seals rows in the single-value layout (one message per field) as bundles", async () => {
		const inner = createMemoryStore();
		const key = deriveKey("k1", NEW);
		const identityKey = identityHmac(key, "anthropic", "email:a@example.com");
		const binding = { kind: "new" as const, provider: "anthropic", identityKey };
		const login = oauth("a@example.com");
		const row = await inner.rows.insert("anthropic", {
			...login,
			access: sealValue(key, binding, "access", login.access),
			refresh: sealValue(key, binding, "refresh", login.refresh),
			email: sealValue(key, binding, "email", login.email as string),
			authpoolIdentity: identityKey,
		} as AuthCredential);
		const store = withEncryption(inner, { keys: new Map([["k1", NEW]]), activeKeyId: "k1" });
		expect((await store.rows.get(row.id))?.credential).toEqual(login);
		expect(await rotateEncryptionKeys(store)).toMatchObject({ resealed: 1, failed: [] });
		const raw = (await inner.rows.get(row.id))!.credential as OAuthCredential;
		expect([raw.access.slice(0, 11), raw.refresh, raw.email]).toEqual(["enc:v1:k1:*", "enc:v1:k1:=", "enc:v1:k1:="]);
		expect((await store.rows.get(row.id))?.credential).toEqual(login);
		expect(await rotateEncryptionKeys(store)).toMatchObject({ resealed: 0, skipped: 1 });
	});

	it("never overwrites a concurrent write: the lost CAS is re-read and retried", async () => {
		const inner = createMemoryStore();
		const stale = withEncryption(inner, { keys: new Map([["old", OLD]]), activeKeyId: "old" });
		const row = await stale.rows.insert("anthropic", oauth("a@example.com"));
		let raced = false;
		// A refresher on a process still using the old key writes right before rotation's first CAS.
		const racing: AuthCredentialStore = {
			...inner,
			rows: {
				...inner.rows,
				compareAndSet: async (id, version, credential) => {
					if (!raced) {
						raced = true;
						const current = (await stale.rows.get(id))!;
						expect((await stale.rows.compareAndSet(id, current.version, oauth("a@example.com", 9))).ok).toBe(true);
					}
					return inner.rows.compareAndSet(id, version, credential);
				},
			},
		};
		const rotating = withEncryption(racing, {
			keys: new Map([
				["old", OLD],
				["k1", NEW],
			]),
			activeKeyId: "k1",
		});
		const result = await rotateEncryptionKeys(rotating);
		expect(raced).toBe(true);
		expect(result).toMatchObject({ resealed: 1, failed: [] });
		const onlyNew = withEncryption(inner, { keys: new Map([["k1", NEW]]), activeKeyId: "k1" });
		expect((await onlyNew.rows.get(row.id))?.credential).toEqual(oauth("a@example.com", 9));
	});

	it("migrates plaintext rows: mixed state reads, identities match, then everything is sealed", async () => {
		const inner = createMemoryStore();
		const plainLogin = await inner.rows.insert("anthropic", oauth("a@example.com"));
		const plainKey = await inner.rows.insert("openai", { type: "api_key", key: "test-api-key-7" });
		const { store } = { store: withEncryption(inner, { keys: new Map([["k1", NEW]]), activeKeyId: "k1" }) };
		expect((await store.rows.listActive()).map((row) => row.id)).toEqual([plainLogin.id, plainKey.id]);
		// A plaintext row of the same identity is matched (re-sealed first), not duplicated.
		const upserted = await store.rows.upsertByIdentity("openai", { type: "api_key", key: "test-api-key-7" });
		expect(upserted).toMatchObject({ inserted: false, row: { id: plainKey.id } });
		expect(await sealPlaintextRows(store)).toMatchObject({ resealed: 1, failed: [] });
		const text = await rawText(inner);
		expect(text).not.toContain("test-api-key-7");
		expect(text).not.toContain("test-refresh-1");
		expect(text).not.toContain("a@example.com");
		expect((await store.rows.get(plainLogin.id))?.credential).toEqual(oauth("a@example.com"));
		expect(await sealPlaintextRows(store)).toMatchObject({ resealed: 0, skipped: 2 });
	});
});

describe("encryption keys", () => {
	const dirs: string[] = [];
	afterEach(async () => {
		for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
	});

	it("parses id:base64 lists and rejects wrong lengths without echoing key material", () => {
		const spec = `k1:${NEW.toString("base64")},old:${OLD.toString("base64url")}`;
		const keys = parseEncryptionKeys(spec);
		expect([...keys.keys()]).toEqual(["k1", "old"]);
		expect(keys.get("old")?.equals(OLD)).toBe(true);
		const short = Buffer.alloc(16, 0x33).toString("base64");
		expect(() => parseEncryptionKeys(`k1:${short}`)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
		try {
			parseEncryptionKeys(`k1:${short}`);
		} catch (error) {
			expect((error as Error).message).not.toContain(short);
		}
		expect(() => parseEncryptionKeys("nocolon")).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
		expect(() => parseEncryptionKeys(`a:${NEW.toString("base64")},a:${OLD.toString("base64")}`)).toThrow(
			expect.objectContaining({ code: "INVALID_OPTIONS" }),
		);
	});

	it("refuses a key file readable by group or others", async () => {
		const dir = await mkdtemp(join(tmpdir(), "authpool-keys-"));
		dirs.push(dir);
		const path = join(dir, "keys");
		await writeFile(path, `k1:${NEW.toString("base64")}\n`);
		await chmod(path, 0o644);
		await expect(loadEncryptionKeyFile(path)).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
		await chmod(path, 0o600);
		expect((await loadEncryptionKeyFile(path)).get("k1")?.equals(NEW)).toBe(true);
		await expect(loadEncryptionKeyFile(join(dir, "missing"))).rejects.toMatchObject({ code: "NOT_FOUND" });
	});
});
