/**
 * Encryption at rest as a store wrapper: `withEncryption(store, { keys, activeKeyId })`.
 *
 * Why a wrapper and not a per-store codec: stores stay simple (they persist opaque strings and index
 * an identity key) and every store, memory, SQLite or a later Postgres, gets encryption for free,
 * with one implementation to review.
 *
 * - Secret fields (`access`, `refresh`, `key`, `email`, `accountId` plus `secretFields`) of a write
 *   are sealed together as one AES-256-GCM message (see seal.ts): the first by name holds
 *   `"enc:v1:<keyId>:*<base64url(iv|ciphertext|tag)>"`, the others `"enc:v1:<keyId>:="`, so opening a
 *   row is one cipher setup. Single sealed values (one message per field) still open. Emails and
 *   account ids are sealed too: callers still see them (they read through this wrapper), but a copied
 *   database file does not say whose accounts it holds.
 * - Associated data binds provider, the sealed field names and the place the row was written. Every write of an
 *   existing row is a compare-and-set, so the writer knows the version it creates (`expected + 1`)
 *   and binds row id + that version; a value moved to another row or a row rolled back to an older
 *   value (with the newer version number kept) fails to open. Inserts do not know their id yet but
 *   always create version 1, so a version-1 value binds provider + identity HMAC instead.
 *   `upsertByIdentity`/`replaceProvider` predict the binding from the rows they will match; if a
 *   concurrent writer made the prediction wrong, the row is re-sealed at once by compare-and-set.
 * - Identity: the store never sees a plaintext identity. The wrapper computes the identity key on the
 *   plaintext, HMACs it (`hmac:<keyId>:<hex>`, key derived from the active key by HKDF) and passes it
 *   in the reserved `authpoolIdentity` field, which `credentialIdentityKey` prefers. Rows read back
 *   carry the plaintext identity key again.
 * - Reads accept any known key; writes use `activeKeyId`. Plaintext rows (no `enc:` value, no HMAC
 *   identity) read as they are; a default secret field in clear inside a sealed row does not. A row that fails to open (unknown key, tampered, moved, rolled back) is left out of
 *   listings, reported by `encryption.listUndecryptableRows()`, and `get` throws
 *   `DECRYPTION_FAILED`/`UNKNOWN_KEY` naming key id and row id: never garbage, never a disable.
 * - Cache, blocks, leases, ledger and the change feed pass through unchanged (nothing secret).
 */
import { AuthpoolError } from "../../errors";
import type { ProviderPlugin } from "../../plugin";
import { credentialIdentityKey, IDENTITY_FIELD } from "../../pool/identity";
import type { AuthCredential, StoredAuthCredential } from "../../types";
import type { AuthCredentialStore, CasResult, CredentialRowStore } from "../store";
import { checkStoreInput, storeInputSchemas as input } from "../store-input";
import { checkedKeyEntries, type EncryptionKeys } from "./keys";
import {
	bindingOfRow,
	type DerivedKey,
	deriveKey,
	identityHmac,
	openBundle,
	openValue,
	SEALED_PREFIX,
	type SealBinding,
	sealBundle,
	sealedKeyId,
	sealedKind,
} from "./seal";

/** Fields sealed by default. Plugins declaring other secret fields pass them in `secretFields`. */
export const DEFAULT_SECRET_FIELDS: readonly string[] = ["access", "refresh", "key", "email", "accountId"];

/** Every field the given plugins declare secret (`ProviderPlugin.secretFields`), for `secretFields`. */
export function pluginSecretFields(plugins: Iterable<Pick<ProviderPlugin, "secretFields">>): string[] {
	const fields = new Set<string>();
	for (const plugin of plugins) for (const field of plugin.secretFields ?? []) fields.add(field);
	return [...fields];
}

/** Options of {@link withEncryption}. */
export interface EncryptionOptions {
	/** Key id → 32-byte key (see `parseEncryptionKeys`, `loadEncryptionKeyFile`). */
	keys: EncryptionKeys | Record<string, Buffer>;
	/** The key every write seals with. */
	activeKeyId: string;
	/** Extra credential fields to seal (for example ones a provider plugin declares secret). */
	secretFields?: readonly string[];
}

/** A row the wrapper cannot open. Carries ids and reasons, never data. */
export interface UndecryptableRowReport {
	id: number;
	provider: string;
	active: boolean;
	/** The key id the failing value names. */
	keyId: string;
	field: string;
	code: "DECRYPTION_FAILED" | "UNKNOWN_KEY";
}

/** The encryption side of a wrapped store (used by `rotateEncryptionKeys`). */
export interface EncryptionControl {
	readonly activeKeyId: string;
	/** The wrapped store: it holds sealed values. */
	readonly inner: AuthCredentialStore;
	/** Every row (active and disabled) that fails to open. */
	listUndecryptableRows(): Promise<UndecryptableRowReport[]>;
	/** `true` when a stored row has a value or identity not under the active key. */
	needsReseal(raw: StoredAuthCredential): boolean;
	/** The plaintext view of a stored row. @throws AuthpoolError `DECRYPTION_FAILED` / `UNKNOWN_KEY` */
	open(raw: StoredAuthCredential): StoredAuthCredential;
	/** The wrapped store can rewrite tombstones (`rows.compareAndSetDisabled`), so rotation re-seals them. */
	readonly canResealDisabled: boolean;
	/**
	 * Rewrite a row with `credential` under the active key by compare-and-set at `raw.version`: an active
	 * row through `compareAndSet`, a tombstone through `compareAndSetDisabled` (it stays disabled).
	 * `null` when the row moved on (lost race), changed state, or the store cannot rewrite tombstones.
	 */
	reseal(raw: StoredAuthCredential, credential: AuthCredential): Promise<StoredAuthCredential | null>;
}

/** A store whose credential secrets are sealed at rest. */
export interface EncryptedCredentialStore extends AuthCredentialStore {
	readonly encryption: EncryptionControl;
}

const DEFAULT_SECRET_SET: ReadonlySet<string> = new Set(DEFAULT_SECRET_FIELDS);
/**
 * A row as last opened: what its binding was computed from, every sealed string in stored order
 * (`[field, sealed, field, sealed, ...]`) and what those fields opened to.
 */
interface OpenedRow {
	provider: string;
	version: number;
	identityKey: string | null;
	disabledCause: string | null;
	sealed: string[];
	values: Record<string, string>;
}
const MAX_WRITE_ATTEMPTS = 32;
const OPENED_CACHE_ROWS = 10_000;

class OpenError extends AuthpoolError {
	constructor(
		readonly report: UndecryptableRowReport,
		message: string,
	) {
		super(report.code, message, {
			details: { id: report.id, provider: report.provider, keyId: report.keyId, field: report.field },
		});
	}
}

/**
 * Wrap `store` so credential secrets and identities are sealed at rest (see the module header).
 * @throws AuthpoolError `INVALID_OPTIONS` when a key is not 32 bytes, an id is malformed or `activeKeyId` is unknown.
 */
export function withEncryption(store: AuthCredentialStore, options: EncryptionOptions): EncryptedCredentialStore {
	if (typeof options !== "object" || options === null) {
		throw new AuthpoolError("INVALID_OPTIONS", "Invalid encryption options: expected an object");
	}
	const keys = new Map<string, DerivedKey>();
	for (const [id, key] of checkedKeyEntries(options.keys)) keys.set(id, deriveKey(id, key));
	const active = keys.get(options.activeKeyId);
	if (!active) {
		throw new AuthpoolError("INVALID_OPTIONS", "Invalid encryption options: activeKeyId names no given key");
	}
	const extra = options.secretFields ?? [];
	if (!Array.isArray(extra) || extra.some((field) => typeof field !== "string" || field === "type")) {
		throw new AuthpoolError("INVALID_OPTIONS", "Invalid encryption options: secretFields must be field names");
	}
	const secretFields = new Set([...DEFAULT_SECRET_FIELDS, ...extra]);
	const inner = store.rows;
	const activeHmacPrefix = `hmac:${active.id}:`;

	/** Plaintext identity key, never stored: only its HMAC is. */
	const plainIdentity = (provider: string, credential: AuthCredential): string | null => {
		const copy: Record<string, unknown> = { ...credential };
		delete copy[IDENTITY_FIELD];
		return credentialIdentityKey(provider, copy as unknown as AuthCredential);
	};

	const hmacOf = (provider: string, credential: AuthCredential): string | null => {
		const identity = plainIdentity(provider, credential);
		return identity === null ? null : identityHmac(active, provider, identity);
	};

	const validated = (credential: AuthCredential): AuthCredential => {
		checkStoreInput(input.credential, credential, "credential");
		return credential;
	};

	const seal = (provider: string, credential: AuthCredential, binding: SealBinding): AuthCredential => {
		const out: Record<string, unknown> = {};
		const secrets: Record<string, string> = {};
		for (const [field, value] of Object.entries(credential)) {
			if (field === IDENTITY_FIELD) continue;
			if (secretFields.has(field) && typeof value === "string") secrets[field] = value;
			out[field] = value;
		}
		const fields = Object.keys(secrets).sort();
		if (fields.length > 0) {
			const { bundle, reference } = sealBundle(active, binding, secrets);
			fields.forEach((field, index) => {
				out[field] = index === 0 ? bundle : reference;
			});
		}
		const hmac = hmacOf(provider, credential);
		if (hmac !== null) out[IDENTITY_FIELD] = hmac;
		return out as unknown as AuthCredential;
	};

	const newBinding = (provider: string, credential: AuthCredential): SealBinding => ({
		kind: "new",
		provider,
		identityKey: hmacOf(provider, credential),
	});

	const rowBinding = (provider: string, id: number, version: number): SealBinding => ({
		kind: "row",
		provider,
		id,
		version,
	});

	/**
	 * Rows as last opened, by id: a pool reload re-lists every row, and GCM per row per reload is most
	 * of the wrapper's cost. A row is served from here only when its binding inputs and every sealed
	 * string, field by field in stored order, are exactly those once verified (GCM is deterministic,
	 * so that is what opening it again would give); any change, tampering included, misses and is
	 * opened, and so verified, again. Unsealed fields are always read from the row itself.
	 * Insertion-ordered (a row opened again after a change moves to the end); the oldest is evicted.
	 */
	const openedCache = new Map<number, OpenedRow>();

	const remember = (raw: StoredAuthCredential, plain: Record<string, unknown>) => {
		const stored = raw.credential as unknown as Record<string, unknown>;
		const sealed: string[] = [];
		const values: Record<string, string> = {};
		for (const field in stored) {
			const value = stored[field];
			if (field === IDENTITY_FIELD || typeof value !== "string" || !value.startsWith(SEALED_PREFIX)) continue;
			sealed.push(field, value);
			values[field] = plain[field] as string;
		}
		if (sealed.length === 0) return;
		const { provider, version, identityKey, disabledCause } = raw;
		openedCache.delete(raw.id);
		openedCache.set(raw.id, { provider, version, identityKey, disabledCause, sealed, values });
		if (openedCache.size > OPENED_CACHE_ROWS) openedCache.delete(openedCache.keys().next().value!);
	};

	/** The row from {@link openedCache}, or `null` when anything that was verified differs. */
	const reopen = (raw: StoredAuthCredential): StoredAuthCredential | null => {
		const hit = openedCache.get(raw.id);
		if (
			hit === undefined ||
			hit.version !== raw.version ||
			hit.identityKey !== raw.identityKey ||
			hit.disabledCause !== raw.disabledCause ||
			hit.provider !== raw.provider
		) {
			return null;
		}
		const stored = raw.credential as unknown as Record<string, unknown>;
		const plain: Record<string, unknown> = {};
		const sealed = hit.sealed;
		let next = 0;
		for (const field in stored) {
			if (field === IDENTITY_FIELD) continue;
			const value = stored[field];
			if (typeof value === "string") {
				if (value.startsWith(SEALED_PREFIX)) {
					if (sealed[next] !== field || sealed[next + 1] !== value) return null;
					next += 2;
					plain[field] = hit.values[field];
					continue;
				}
				// A default secret field in clear in a sealed row: the full open reports it.
				if (DEFAULT_SECRET_SET.has(field)) return null;
			}
			plain[field] = value;
		}
		if (next !== sealed.length) return null;
		const credential = plain as unknown as AuthCredential;
		return { ...raw, credential, identityKey: credentialIdentityKey(raw.provider, credential) };
	};

	const reportOf = (
		raw: StoredAuthCredential,
		keyId: string,
		field: string,
		code: UndecryptableRowReport["code"],
	): UndecryptableRowReport => ({
		id: raw.id,
		provider: raw.provider,
		active: raw.disabledCause === null,
		keyId,
		field,
		code,
	});

	const failed = (raw: StoredAuthCredential, keyId: string, field: string, why: string) =>
		new OpenError(
			reportOf(raw, keyId, field, "DECRYPTION_FAILED"),
			`Credential row ${raw.id} field "${field}" failed to open under key "${keyId}" (${why})`,
		);

	const keyFor = (raw: StoredAuthCredential, keyId: string, field: string): DerivedKey => {
		const key = keys.get(keyId);
		if (!key) {
			throw new OpenError(
				reportOf(raw, keyId, field, "UNKNOWN_KEY"),
				`Credential row ${raw.id} is sealed with unknown key "${keyId}"`,
			);
		}
		return key;
	};

	/** The key id a row was sealed under (any sealed value, or its identity HMAC); `null` for a plaintext row. */
	const rowKeyId = (raw: StoredAuthCredential): string | null => {
		for (const field in raw.credential) {
			const value = (raw.credential as unknown as Record<string, unknown>)[field];
			if (typeof value === "string" && value.startsWith(SEALED_PREFIX)) return sealedKeyId(value) ?? "?";
		}
		const hmac = raw.identityKey?.startsWith("hmac:") ? raw.identityKey.slice(5) : null;
		return hmac === null ? null : hmac.slice(0, Math.max(0, hmac.indexOf(":"))) || "?";
	};

	const open = (raw: StoredAuthCredential): StoredAuthCredential => {
		const fromCache = reopen(raw);
		if (fromCache !== null) return fromCache;
		const binding = bindingOfRow(raw);
		const stored = raw.credential as unknown as Record<string, unknown>;
		const plain: Record<string, unknown> = {};
		let bundleField: string | null = null;
		const references: string[] = [];
		let sealedUnder: string | null | undefined;
		for (const field in stored) {
			if (field === IDENTITY_FIELD) continue;
			const value = stored[field];
			if (typeof value !== "string" || !value.startsWith(SEALED_PREFIX)) {
				// The wrapper seals every default secret field of a write together, so one in clear inside a
				// sealed row was put there (or its prefix damaged): never served as a credential.
				if (typeof value === "string" && DEFAULT_SECRET_SET.has(field)) {
					sealedUnder ??= rowKeyId(raw);
					if (sealedUnder !== null) {
						throw new OpenError(
							reportOf(raw, sealedUnder, field, "DECRYPTION_FAILED"),
							`Credential row ${raw.id} field "${field}" is not sealed in a row sealed under key "${sealedUnder}" (tampered)`,
						);
					}
				}
				plain[field] = value;
				continue;
			}
			const kind = sealedKind(value);
			if (kind !== "value") {
				if (kind === "reference") references.push(field);
				else if (bundleField === null) bundleField = field;
				else throw failed(raw, sealedKeyId(value) ?? "?", field, "two bundles in one row");
				plain[field] = undefined; // keeps the field order; filled from the bundle below
				continue;
			}
			const keyId = sealedKeyId(value) ?? "?";
			const text = openValue(keyFor(raw, keyId, field), binding, field, value);
			if (text === null) throw failed(raw, keyId, field, "tampered, moved or rolled back");
			plain[field] = text;
		}
		if (bundleField !== null || references.length > 0) {
			if (bundleField === null) {
				const field = references[0]!;
				throw failed(raw, sealedKeyId(stored[field] as string) ?? "?", field, "its sealed bundle is missing");
			}
			const bundle = stored[bundleField] as string;
			const keyId = sealedKeyId(bundle) ?? "?";
			for (const field of references) {
				if (sealedKeyId(stored[field] as string) !== keyId) throw failed(raw, keyId, field, "reference to another key");
			}
			const fields = references.length === 0 ? [bundleField] : [bundleField, ...references].sort();
			const values = openBundle(keyFor(raw, keyId, bundleField), binding, fields, bundle);
			if (values === null) throw failed(raw, keyId, bundleField, "tampered, moved or rolled back");
			for (const field of fields) plain[field] = values[field];
		}
		remember(raw, plain);
		const credential = plain as unknown as AuthCredential;
		return { ...raw, credential, identityKey: credentialIdentityKey(raw.provider, credential) };
	};

	const tryOpen = (raw: StoredAuthCredential): StoredAuthCredential | null => {
		try {
			return open(raw);
		} catch (error) {
			if (error instanceof OpenError) return null;
			throw error;
		}
	};

	const openAll = (rows: StoredAuthCredential[]) =>
		rows.map(tryOpen).filter((row): row is StoredAuthCredential => row !== null);

	const openCas = (result: CasResult): CasResult =>
		result.ok
			? { ok: true, row: open(result.row) }
			: { ok: false, current: result.current ? open(result.current) : null };

	const needsReseal = (raw: StoredAuthCredential): boolean => {
		if (raw.identityKey !== null && !raw.identityKey.startsWith(activeHmacPrefix)) return true;
		for (const [field, value] of Object.entries(raw.credential)) {
			if (typeof value !== "string" || field === IDENTITY_FIELD) continue;
			const keyId = sealedKeyId(value);
			// Under another key, in clear, or in the single-value layout (re-sealed as a bundle: cheaper to open).
			if (keyId !== null ? keyId !== active.id || sealedKind(value) === "value" : secretFields.has(field)) {
				return true;
			}
		}
		return false;
	};

	const reseal = async (raw: StoredAuthCredential, credential: AuthCredential) => {
		// The binding of the version this write creates (a tombstone's data binds the version before it).
		const sealed = seal(raw.provider, credential, bindingOfRow({ ...raw, version: raw.version + 1 }));
		const write = raw.disabledCause === null ? inner.compareAndSet : inner.compareAndSetDisabled;
		if (!write) return null;
		const result = await write.call(inner, raw.id, raw.version, sealed);
		return result.ok ? result.row : null;
	};

	/** Last-writer-wins write of an active row, done as a CAS loop so the sealed version is exact. */
	const rewrite = async (id: number, credential: AuthCredential): Promise<StoredAuthCredential | null> => {
		for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
			const raw = await inner.get(id);
			if (!raw || raw.disabledCause !== null) return null;
			const written = await reseal(raw, credential);
			if (written) return open(written);
		}
		throw new AuthpoolError("CONFLICT", `Credential row ${id} kept changing; write gave up`, { details: { id } });
	};

	/**
	 * Rows of a provider whose identity HMAC is under another key (or a plaintext identity) would not
	 * match an incoming credential; re-seal them first so identity matching sees one key.
	 */
	const healProvider = async (provider: string): Promise<StoredAuthCredential[]> => {
		const rows = await inner.listActive(provider);
		const out: StoredAuthCredential[] = [];
		for (const raw of rows) {
			if (raw.identityKey === null || raw.identityKey.startsWith(activeHmacPrefix)) {
				out.push(raw);
				continue;
			}
			const plain = tryOpen(raw);
			const written = plain ? await reseal(raw, plain.credential) : null;
			out.push(written ?? raw);
		}
		return out;
	};

	/** The row a write produced, re-sealed when a concurrent writer made the predicted binding wrong. */
	const settle = async (raw: StoredAuthCredential, credential: AuthCredential): Promise<StoredAuthCredential> => {
		const opened = tryOpen(raw);
		if (opened) return opened;
		return (await rewrite(raw.id, credential)) ?? open(raw);
	};

	const rows: CredentialRowStore = {
		async listActive(provider) {
			return openAll(await inner.listActive(provider));
		},
		async listDisabled(provider) {
			return openAll(await inner.listDisabled(provider));
		},
		async get(id) {
			const raw = await inner.get(id);
			return raw ? open(raw) : null;
		},
		async insert(provider, credential) {
			checkStoreInput(input.provider, provider, "provider");
			validated(credential);
			return open(await inner.insert(provider, seal(provider, credential, newBinding(provider, credential))));
		},
		async update(id, credential) {
			checkStoreInput(input.id, id, "credential id");
			validated(credential);
			return rewrite(id, credential);
		},
		async compareAndSet(id, expectedVersion, credential) {
			checkStoreInput(input.id, id, "credential id");
			checkStoreInput(input.version, expectedVersion, "expected version");
			validated(credential);
			const raw = await inner.get(id);
			if (!raw || raw.disabledCause !== null || raw.version !== expectedVersion) {
				return { ok: false, current: raw ? open(raw) : null };
			}
			// A row never changes provider, so the provider read above is the one the CAS writes under.
			const sealed = seal(raw.provider, credential, rowBinding(raw.provider, id, expectedVersion + 1));
			return openCas(await inner.compareAndSet(id, expectedVersion, sealed));
		},
		async compareAndDisable(id, expectedVersion, cause) {
			return openCas(await inner.compareAndDisable(id, expectedVersion, cause));
		},
		disable: (id, cause) => inner.disable(id, cause),
		disableProvider: (provider, cause) => inner.disableProvider(provider, cause),
		async upsertByIdentity(provider, credential) {
			checkStoreInput(input.provider, provider, "provider");
			validated(credential);
			const hmac = hmacOf(provider, credential);
			const existing =
				hmac === null ? undefined : (await healProvider(provider)).find((row) => row.identityKey === hmac);
			const binding = existing
				? rowBinding(provider, existing.id, existing.version + 1)
				: newBinding(provider, credential);
			const result = await inner.upsertByIdentity(provider, seal(provider, credential, binding));
			return { row: await settle(result.row, credential), inserted: result.inserted };
		},
		async replaceProvider(provider, credentials) {
			checkStoreInput(input.provider, provider, "provider");
			if (!Array.isArray(credentials)) {
				throw new AuthpoolError("INVALID_INPUT", "Invalid credentials: expected an array");
			}
			for (const credential of credentials) validated(credential);
			// Predict each credential's row the way the store matches: each active row at most once, oldest first.
			const unmatched = await healProvider(provider);
			const byHmac = new Map<string, AuthCredential>();
			const sealed = credentials.map((credential) => {
				const hmac = hmacOf(provider, credential);
				if (hmac !== null) byHmac.set(hmac, credential);
				const index = hmac === null ? -1 : unmatched.findIndex((row) => row.identityKey === hmac);
				if (index < 0) return seal(provider, credential, newBinding(provider, credential));
				const [match] = unmatched.splice(index, 1);
				return seal(provider, credential, rowBinding(provider, match!.id, match!.version + 1));
			});
			const result = await inner.replaceProvider(provider, sealed);
			const out: StoredAuthCredential[] = [];
			for (const raw of result) {
				const opened = tryOpen(raw);
				const plain = raw.identityKey === null ? undefined : byHmac.get(raw.identityKey);
				if (opened) out.push(opened);
				else if (plain) out.push(await settle(raw, plain));
			}
			return out;
		},
	};

	if (inner.insertIfProviderAbsent) {
		const insertIfAbsent = inner.insertIfProviderAbsent.bind(inner);
		rows.insertIfProviderAbsent = async (provider, credential) => {
			checkStoreInput(input.provider, provider, "provider");
			validated(credential);
			const raw = await insertIfAbsent(provider, seal(provider, credential, newBinding(provider, credential)));
			return raw ? open(raw) : null;
		};
	}

	if (inner.compareAndSetDisabled) {
		const writeDisabled = inner.compareAndSetDisabled.bind(inner);
		rows.compareAndSetDisabled = async (id, expectedVersion, credential) => {
			checkStoreInput(input.id, id, "credential id");
			checkStoreInput(input.version, expectedVersion, "expected version");
			validated(credential);
			const raw = await inner.get(id);
			if (!raw || raw.disabledCause === null || raw.version !== expectedVersion) {
				return { ok: false, current: raw ? open(raw) : null };
			}
			const sealed = seal(raw.provider, credential, bindingOfRow({ ...raw, version: expectedVersion + 1 }));
			return openCas(await writeDisabled(id, expectedVersion, sealed));
		};
	}

	const encryption: EncryptionControl = {
		activeKeyId: active.id,
		canResealDisabled: inner.compareAndSetDisabled !== undefined,
		inner: store,
		async listUndecryptableRows() {
			const all = [...(await inner.listActive()), ...(await inner.listDisabled())].sort((a, b) => a.id - b.id);
			const reports: UndecryptableRowReport[] = [];
			for (const raw of all) {
				try {
					open(raw);
				} catch (error) {
					if (error instanceof OpenError) reports.push(error.report);
					else throw error;
				}
			}
			return reports;
		},
		needsReseal,
		open,
		reseal,
	};

	const wrapped: EncryptedCredentialStore = {
		kind: `encrypted:${store.kind}`,
		capabilities: store.capabilities,
		rows,
		cache: store.cache,
		blocks: store.blocks,
		changes: store.changes,
		encryption,
		close: () => store.close(),
	};
	const purge = inner.purgeDisabled?.bind(inner);
	if (purge) {
		// Stored identity keys are HMACs, one per key a tombstone may have been written under.
		rows.purgeDisabled = async (filter) => {
			if (filter.identityKey === undefined) return purge(filter);
			if (filter.provider === undefined) {
				throw new AuthpoolError("INVALID_INPUT", "purgeDisabled by identity needs the provider on an encrypted store");
			}
			let purged = 0;
			for (const key of keys.values()) {
				purged += await purge({ ...filter, identityKey: identityHmac(key, filter.provider, filter.identityKey) });
			}
			return purged;
		};
	}
	const optional = wrapped as { -readonly [K in keyof EncryptedCredentialStore]: EncryptedCredentialStore[K] };
	// Settings hold the account priority (row ids, account ids or emails the operator chose), not secrets.
	if (store.settings) optional.settings = store.settings;
	if (store.leases) optional.leases = store.leases;
	if (store.ledger) optional.ledger = store.ledger;
	if (store.upstream) optional.upstream = store.upstream;
	return wrapped;
}
