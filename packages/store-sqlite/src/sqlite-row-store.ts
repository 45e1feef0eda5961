/**
 * Credential rows. Every write is one short `BEGIN IMMEDIATE` transaction committed with
 * `synchronous=FULL` (a rotated refresh token the provider already consumed the old one for must
 * survive a power cut); the revision triggers bump in the same transaction.
 */
import {
	type AuthCredential,
	AuthpoolError,
	type CasResult,
	type CredentialRowStore,
	checkStoreInput,
	credentialIdentityKey,
	storeInputSchemas as input,
	plainCopy,
	REPLACED_BY_NEWER,
	type StoredAuthCredential,
	SUPERSEDED_CAUSES,
	tombstoneMatches,
} from "@authpool/core";
import { type CorruptRowReport, type CredentialDecoder, corruptReport, RECORD_COLUMNS } from "./credential-record";
import type { CredentialRecord } from "./schema";
import type { SqliteContext } from "./sqlite-context";

const COLUMNS = RECORD_COLUMNS;

const SQL = {
	listActive: `SELECT ${COLUMNS} FROM auth_credentials WHERE disabled_cause IS NULL ORDER BY id`,
	listActiveOf: `SELECT ${COLUMNS} FROM auth_credentials WHERE provider = ? AND disabled_cause IS NULL ORDER BY id`,
	listDisabled: `SELECT ${COLUMNS} FROM auth_credentials WHERE disabled_cause IS NOT NULL ORDER BY id`,
	listDisabledOf: `SELECT ${COLUMNS} FROM auth_credentials WHERE provider = ? AND disabled_cause IS NOT NULL ORDER BY id`,
	listAll: `SELECT ${COLUMNS} FROM auth_credentials ORDER BY id`,
	get: `SELECT ${COLUMNS} FROM auth_credentials WHERE id = ?`,
	anyActiveOf: `SELECT ${COLUMNS} FROM auth_credentials WHERE provider = ? AND disabled_cause IS NULL LIMIT 1`,
	activeByIdentity: `SELECT ${COLUMNS} FROM auth_credentials WHERE provider = ? AND identity_key = ? AND disabled_cause IS NULL ORDER BY id LIMIT 1`,
	insert:
		"INSERT INTO auth_credentials (provider, credential_type, data, identity_key, version, disabled_cause, created_at, updated_at, disabled_at) " +
		`VALUES (?, ?, ?, ?, 1, NULL, ?, ?, NULL) RETURNING ${COLUMNS}`,
	update:
		"UPDATE auth_credentials SET credential_type = ?, data = ?, identity_key = ?, version = version + 1, updated_at = ? " +
		`WHERE id = ? AND disabled_cause IS NULL RETURNING ${COLUMNS}`,
	compareAndSet:
		"UPDATE auth_credentials SET credential_type = ?, data = ?, identity_key = ?, version = version + 1, updated_at = ? " +
		`WHERE id = ? AND version = ? AND disabled_cause IS NULL RETURNING ${COLUMNS}`,
	compareAndSetDisabled:
		"UPDATE auth_credentials SET credential_type = ?, data = ?, identity_key = ?, version = version + 1, updated_at = ? " +
		`WHERE id = ? AND version = ? AND disabled_cause IS NOT NULL RETURNING ${COLUMNS}`,
	disable:
		"UPDATE auth_credentials SET disabled_cause = ?, disabled_at = ?, updated_at = ?, version = version + 1 " +
		`WHERE id = ? AND disabled_cause IS NULL RETURNING ${COLUMNS}`,
	compareAndDisable:
		"UPDATE auth_credentials SET disabled_cause = ?, disabled_at = ?, updated_at = ?, version = version + 1 " +
		`WHERE id = ? AND version = ? AND disabled_cause IS NULL RETURNING ${COLUMNS}`,
	disableProvider:
		"UPDATE auth_credentials SET disabled_cause = ?, disabled_at = ?, updated_at = ?, version = version + 1 " +
		"WHERE provider = ? AND disabled_cause IS NULL",
	tombstonesOfIdentity:
		"SELECT id FROM auth_credentials WHERE provider = ? AND identity_key = ? AND disabled_cause IN (?, ?)",
	tombstones:
		"SELECT id, provider, identity_key, disabled_cause, disabled_at FROM auth_credentials WHERE disabled_cause IS NOT NULL " +
		"AND (@provider IS NULL OR provider = @provider) AND (@identityKey IS NULL OR identity_key = @identityKey) " +
		"AND (@before IS NULL OR disabled_at < @before)",
	deleteRow: "DELETE FROM auth_credentials WHERE id = ?",
	deleteBlocksOf: "DELETE FROM auth_credential_blocks WHERE credential_id = ?",
	deleteLeaseOf: "DELETE FROM auth_refresh_leases WHERE credential_id = ?",
} as const;

/** A credential validated and serialised once, before any lock is taken. */
interface EncodedCredential {
	type: string;
	data: string;
	/** The JSON round-trip of the input: exactly what a later read returns. */
	credential: AuthCredential;
}

function encode(credential: AuthCredential): EncodedCredential {
	// Validate and serialise one plain copy (toJSON ignored), so a hostile toJSON cannot commit
	// something other than what passed validation.
	const snapshot = plainCopy(credential);
	checkStoreInput(input.credential, snapshot, "credential");
	let data: string;
	try {
		data = JSON.stringify(snapshot);
	} catch (cause) {
		throw new AuthpoolError("INVALID_INPUT", "Invalid credential: not JSON-serialisable", { cause });
	}
	const normalised = JSON.parse(data) as AuthCredential;
	return { type: normalised.type, data, credential: normalised };
}

export interface SqliteRowStore extends CredentialRowStore {
	/** Rows whose stored data cannot be read (skipped by every listing). */
	listCorruptRows(): Promise<CorruptRowReport[]>;
}

export function createSqliteRowStore(ctx: SqliteContext, decoder: CredentialDecoder): SqliteRowStore {
	const record = (sql: string, ...params: unknown[]) =>
		ctx.statement(sql).get(...params) as CredentialRecord | undefined;
	const records = (sql: string, ...params: unknown[]) => ctx.statement(sql).all(...params) as CredentialRecord[];
	const values = (sql: string, ...params: unknown[]) => ctx.rawStatement(sql).all(...params) as unknown[][];
	const decodeOne = (value: CredentialRecord | undefined) => (value ? decoder.decode(value) : null);
	const durable = { durable: true } as const;

	/** Validation rejects before touching the database; a closed store says so first. */
	const guard = (operation: string) => ctx.assertOpen(operation);

	const getSync = (id: number) => decodeOne(record(SQL.get, id));

	const writeSync = (sql: string, id: number, provider: string, encoded: EncodedCredential, ...extra: unknown[]) =>
		decodeOne(
			record(
				sql,
				encoded.type,
				encoded.data,
				credentialIdentityKey(provider, encoded.credential),
				ctx.now(),
				id,
				...extra,
			),
		);

	const insertSync = (provider: string, encoded: EncodedCredential): StoredAuthCredential => {
		const now = ctx.now();
		const identityKey = credentialIdentityKey(provider, encoded.credential);
		// `encode` validated the data, so the record decodes.
		return decodeOne(record(SQL.insert, provider, encoded.type, encoded.data, identityKey, now, now))!;
	};

	const deleteTombstoneSync = (id: number): void => {
		ctx.statement(SQL.deleteBlocksOf).run(id);
		ctx.statement(SQL.deleteLeaseOf).run(id);
		ctx.statement(SQL.deleteRow).run(id);
	};

	/**
	 * Superseded tombstones of an identity go once an active row for it exists (docs/credential-model.md);
	 * automatic-disable tombstones stay until their retention ends.
	 */
	const purgeTombstonesSync = (provider: string, identityKey: string | null): void => {
		if (identityKey === null) return;
		const ids = ctx
			.statement(SQL.tombstonesOfIdentity)
			.pluck()
			.all(provider, identityKey, ...SUPERSEDED_CAUSES) as number[];
		for (const id of ids) deleteTombstoneSync(id);
	};

	/** The identity key depends on the row's provider, which only the stored row knows. */
	const providerOf = (id: number): string | null => record(SQL.get, id)?.provider ?? null;

	return {
		async listActive(provider) {
			guard("listActive");
			if (provider !== undefined) checkStoreInput(input.provider, provider, "provider");
			return ctx.read("listActive", () =>
				decoder.decodeValues(provider === undefined ? values(SQL.listActive) : values(SQL.listActiveOf, provider)),
			);
		},

		async listDisabled(provider) {
			guard("listDisabled");
			if (provider !== undefined) checkStoreInput(input.provider, provider, "provider");
			return ctx.read("listDisabled", () =>
				decoder.decodeValues(provider === undefined ? values(SQL.listDisabled) : values(SQL.listDisabledOf, provider)),
			);
		},

		async get(id) {
			guard("get");
			checkStoreInput(input.id, id, "credential id");
			return ctx.read("get", () => getSync(id));
		},

		async insert(provider, credential) {
			guard("insert");
			checkStoreInput(input.provider, provider, "provider");
			const encoded = encode(credential);
			return ctx.write("insert", () => insertSync(provider, encoded), durable);
		},

		async insertIfProviderAbsent(provider, credential) {
			guard("insertIfProviderAbsent");
			checkStoreInput(input.provider, provider, "provider");
			const encoded = encode(credential);
			// The write transaction holds the database's write lock: no other process inserts in between.
			return ctx.write(
				"insertIfProviderAbsent",
				() => (record(SQL.anyActiveOf, provider) ? null : insertSync(provider, encoded)),
				durable,
			);
		},

		async update(id, credential) {
			guard("update");
			checkStoreInput(input.id, id, "credential id");
			const encoded = encode(credential);
			return ctx.write(
				"update",
				() => {
					const provider = providerOf(id);
					return provider === null ? null : writeSync(SQL.update, id, provider, encoded);
				},
				durable,
			);
		},

		async compareAndSet(id, expectedVersion, credential): Promise<CasResult> {
			guard("compareAndSet");
			checkStoreInput(input.id, id, "credential id");
			checkStoreInput(input.version, expectedVersion, "expected version");
			const encoded = encode(credential);
			return ctx.write(
				"compareAndSet",
				(): CasResult => {
					const provider = providerOf(id);
					const row = provider === null ? null : writeSync(SQL.compareAndSet, id, provider, encoded, expectedVersion);
					return row ? { ok: true, row } : { ok: false, current: getSync(id) };
				},
				durable,
			);
		},

		async compareAndSetDisabled(id, expectedVersion, credential): Promise<CasResult> {
			guard("compareAndSetDisabled");
			checkStoreInput(input.id, id, "credential id");
			checkStoreInput(input.version, expectedVersion, "expected version");
			const encoded = encode(credential);
			return ctx.write(
				"compareAndSetDisabled",
				(): CasResult => {
					const provider = providerOf(id);
					const row =
						provider === null ? null : writeSync(SQL.compareAndSetDisabled, id, provider, encoded, expectedVersion);
					return row ? { ok: true, row } : { ok: false, current: getSync(id) };
				},
				durable,
			);
		},

		async compareAndDisable(id, expectedVersion, cause): Promise<CasResult> {
			guard("compareAndDisable");
			checkStoreInput(input.id, id, "credential id");
			checkStoreInput(input.version, expectedVersion, "expected version");
			checkStoreInput(input.cause, cause, "disable cause");
			return ctx.write(
				"compareAndDisable",
				(): CasResult => {
					const now = ctx.now();
					const row = decodeOne(record(SQL.compareAndDisable, cause, now, now, id, expectedVersion));
					return row ? { ok: true, row } : { ok: false, current: getSync(id) };
				},
				durable,
			);
		},

		async disable(id, cause) {
			guard("disable");
			checkStoreInput(input.id, id, "credential id");
			checkStoreInput(input.cause, cause, "disable cause");
			return ctx.write(
				"disable",
				() => {
					const now = ctx.now();
					return record(SQL.disable, cause, now, now, id) !== undefined;
				},
				durable,
			);
		},

		async disableProvider(provider, cause) {
			guard("disableProvider");
			checkStoreInput(input.provider, provider, "provider");
			checkStoreInput(input.cause, cause, "disable cause");
			return ctx.write(
				"disableProvider",
				() => {
					const now = ctx.now();
					return ctx.statement(SQL.disableProvider).run(cause, now, now, provider).changes;
				},
				durable,
			);
		},

		async purgeDisabled(filter) {
			guard("purgeDisabled");
			const valid = checkStoreInput(input.purgeFilter, filter, "purge filter");
			return ctx.write(
				"purgeDisabled",
				() => {
					const candidates = ctx.statement(SQL.tombstones).all({
						provider: valid.provider ?? null,
						identityKey: valid.identityKey ?? null,
						before: valid.disabledBefore ?? null,
					}) as Array<{
						id: number;
						provider: string;
						identity_key: string | null;
						disabled_cause: string;
						disabled_at: number | null;
					}>;
					let count = 0;
					for (const row of candidates) {
						const view = {
							id: row.id,
							provider: row.provider,
							identityKey: row.identity_key,
							disabledCause: row.disabled_cause,
							disabledAt: row.disabled_at,
						};
						if (!tombstoneMatches(view, valid)) continue;
						deleteTombstoneSync(row.id);
						count += 1;
					}
					return count;
				},
				durable,
			);
		},

		async upsertByIdentity(provider, credential) {
			guard("upsertByIdentity");
			checkStoreInput(input.provider, provider, "provider");
			const encoded = encode(credential);
			const identityKey = credentialIdentityKey(provider, encoded.credential);
			return ctx.write(
				"upsertByIdentity",
				() => {
					// The oldest active row of the identity is the account's stable handle; duplicates are the
					// pool's to prune on reload.
					const existing = identityKey === null ? undefined : record(SQL.activeByIdentity, provider, identityKey);
					purgeTombstonesSync(provider, identityKey);
					if (existing) {
						return { row: writeSync(SQL.update, existing.id, provider, encoded)!, inserted: false };
					}
					return { row: insertSync(provider, encoded), inserted: true };
				},
				durable,
			);
		},

		async replaceProvider(provider, credentials) {
			guard("replaceProvider");
			checkStoreInput(input.provider, provider, "provider");
			if (!Array.isArray(credentials)) {
				throw new AuthpoolError("INVALID_INPUT", "Invalid credentials: expected an array");
			}
			// Validate everything before touching anything: the replace is all or nothing.
			const incoming = credentials.map(encode);
			return ctx.write(
				"replaceProvider",
				() => {
					// Earlier tombstones of the incoming identities go first, so the rows this call itself
					// disables stay inspectable.
					for (const encoded of incoming) {
						purgeTombstonesSync(provider, credentialIdentityKey(provider, encoded.credential));
					}
					const unmatched = records(SQL.listActiveOf, provider);
					for (const encoded of incoming) {
						const identityKey = credentialIdentityKey(provider, encoded.credential);
						// Each existing row is matched at most once, oldest first, as in upsertByIdentity.
						const index = identityKey === null ? -1 : unmatched.findIndex((row) => row.identity_key === identityKey);
						if (index >= 0) {
							const [match] = unmatched.splice(index, 1);
							writeSync(SQL.update, match!.id, provider, encoded);
						} else {
							insertSync(provider, encoded);
						}
					}
					const now = ctx.now();
					for (const stale of unmatched) record(SQL.disable, REPLACED_BY_NEWER, now, now, stale.id);
					return decoder.decodeAll(records(SQL.listActiveOf, provider));
				},
				durable,
			);
		},

		async listCorruptRows() {
			return ctx.read("listCorruptRows", () => {
				const reports: CorruptRowReport[] = [];
				for (const value of records(SQL.listAll)) {
					const report = corruptReport(value);
					if (report) reports.push(report);
				}
				return reports;
			});
		},
	};
}
