/**
 * Credential rows. Multi-row writes (`upsertByIdentity`, `replaceProvider`) take a transaction-scoped
 * advisory lock on (schema, provider) first, so two instances matching identities of one provider
 * run one after the other and never both insert the same account. CAS is a conditional UPDATE.
 */
import {
	type AuthCredential,
	AuthpoolError,
	type CasResult,
	type CredentialRowStore,
	checkStoreInput,
	credentialIdentityKey,
	storeInputSchemas as input,
	type Logger,
	REPLACED_BY_NEWER,
	type StoredAuthCredential,
	SUPERSEDED_CAUSES,
	tombstoneMatches,
} from "@authpool/core";
import type { Executor, PgContext } from "./pg-context";

interface CredentialRecord {
	id: string | number;
	provider: string;
	data: string;
	identity_key: string | null;
	version: number;
	disabled_cause: string | null;
	created_at: string | number;
	updated_at: string | number;
	disabled_at: string | number | null;
}

const COLUMNS = "id, provider, data, identity_key, version, disabled_cause, created_at, updated_at, disabled_at";

interface EncodedCredential {
	type: string;
	data: string;
	credential: AuthCredential;
}

function encode(credential: AuthCredential): EncodedCredential {
	checkStoreInput(input.credential, credential, "credential");
	let data: string;
	try {
		data = JSON.stringify(credential);
	} catch (cause) {
		throw new AuthpoolError("INVALID_INPUT", "Invalid credential: not JSON-serialisable", { cause });
	}
	const normalised = JSON.parse(data) as AuthCredential;
	return { type: normalised.type, data, credential: normalised };
}

function parseCredential(data: string): AuthCredential | null {
	try {
		const value = JSON.parse(data) as Record<string, unknown> | null;
		if (value?.type === "api_key" && typeof value.key === "string") return value as unknown as AuthCredential;
		if (
			value?.type === "oauth" &&
			typeof value.access === "string" &&
			typeof value.refresh === "string" &&
			typeof value.expires === "number"
		) {
			return value as unknown as AuthCredential;
		}
	} catch {
		// Falls through to the corrupt-row warning.
	}
	return null;
}

function makeDecoder(logger: Logger) {
	const warned = new Map<number, number>();
	return (record: CredentialRecord | undefined): StoredAuthCredential | null => {
		if (!record) return null;
		const id = Number(record.id);
		const credential = parseCredential(record.data);
		if (!credential) {
			// Once per row version, so a reload loop does not flood the log.
			if (warned.get(id) !== record.version) {
				warned.set(id, record.version);
				logger.warn("skipping unreadable credential row", { id, provider: record.provider });
			}
			return null;
		}
		return {
			id,
			provider: record.provider,
			credential,
			disabledCause: record.disabled_cause,
			version: record.version,
			identityKey: record.identity_key,
			createdAt: Number(record.created_at),
			updatedAt: Number(record.updated_at),
			disabledAt: record.disabled_at === null ? null : Number(record.disabled_at),
		};
	};
}

export function createPostgresRowStore(ctx: PgContext): CredentialRowStore {
	const T = ctx.t("auth_credentials");
	const decode = makeDecoder(ctx.logger);
	const decodeAll = (records: CredentialRecord[]) =>
		records.map(decode).filter((row): row is StoredAuthCredential => row !== null);
	const one = async (db: Executor, text: string, params: unknown[]) =>
		(await ctx.query<CredentialRecord>(db, text, params))[0];

	const SQL = {
		listActive: `SELECT ${COLUMNS} FROM ${T} WHERE disabled_cause IS NULL AND ($1::text IS NULL OR provider = $1) ORDER BY id`,
		listDisabled: `SELECT ${COLUMNS} FROM ${T} WHERE disabled_cause IS NOT NULL AND ($1::text IS NULL OR provider = $1) ORDER BY id`,
		get: `SELECT ${COLUMNS} FROM ${T} WHERE id = $1`,
		insert:
			`INSERT INTO ${T} (provider, credential_type, data, identity_key, version, created_at, updated_at) ` +
			`VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING ${COLUMNS}`,
		// The identity key depends on the row's provider: computed by the caller once the provider is known.
		update:
			`UPDATE ${T} SET credential_type = $1, data = $2, identity_key = $3, version = version + 1, updated_at = $4 ` +
			`WHERE id = $5 AND disabled_cause IS NULL AND ($6::int IS NULL OR version = $6) RETURNING ${COLUMNS}`,
		updateDisabled:
			`UPDATE ${T} SET credential_type = $1, data = $2, identity_key = $3, version = version + 1, updated_at = $4 ` +
			`WHERE id = $5 AND disabled_cause IS NOT NULL AND version = $6 RETURNING ${COLUMNS}`,
		disable:
			`UPDATE ${T} SET disabled_cause = $1, disabled_at = $2, updated_at = $2, version = version + 1 ` +
			`WHERE id = $3 AND disabled_cause IS NULL AND ($4::int IS NULL OR version = $4) RETURNING ${COLUMNS}`,
		disableProvider:
			`UPDATE ${T} SET disabled_cause = $1, disabled_at = $2, updated_at = $2, version = version + 1 ` +
			"WHERE provider = $3 AND disabled_cause IS NULL",
		purge: `DELETE FROM ${T} WHERE provider = $1 AND identity_key = $2 AND disabled_cause = ANY($3::text[]) RETURNING id`,
		tombstones:
			`SELECT id, provider, identity_key, disabled_cause, disabled_at FROM ${T} WHERE disabled_cause IS NOT NULL ` +
			"AND ($1::text IS NULL OR provider = $1) AND ($2::text IS NULL OR identity_key = $2) " +
			"AND ($3::bigint IS NULL OR disabled_at < $3)",
		deleteIds: `DELETE FROM ${T} WHERE id = ANY($1::bigint[]) AND disabled_cause IS NOT NULL`,
		purgeBlocks: `DELETE FROM ${ctx.t("auth_credential_blocks")} WHERE credential_id = ANY($1::bigint[])`,
		purgeLeases: `DELETE FROM ${ctx.t("auth_refresh_leases")} WHERE credential_id = ANY($1::bigint[])`,
		lockProvider: "SELECT pg_advisory_xact_lock(hashtext($1))",
	};

	const insertIn = async (db: Executor, provider: string, encoded: EncodedCredential) =>
		decode(
			await one(db, SQL.insert, [
				provider,
				encoded.type,
				encoded.data,
				credentialIdentityKey(provider, encoded.credential),
				ctx.now(),
			]),
		)!;

	/** Update (optionally CAS) a row; the provider comes from the locked row itself. */
	const updateIn = async (db: Executor, id: number, encoded: EncodedCredential, expectedVersion: number | null) => {
		const current = await one(db, `${SQL.get} FOR UPDATE`, [id]);
		if (!current) return null;
		return decode(
			await one(db, SQL.update, [
				encoded.type,
				encoded.data,
				credentialIdentityKey(current.provider, encoded.credential),
				ctx.now(),
				id,
				expectedVersion,
			]),
		);
	};

	/**
	 * Superseded tombstones of an identity go once an active row for it exists, with their blocks and
	 * leases; automatic-disable tombstones stay until their retention ends.
	 */
	const purgeIn = async (db: Executor, provider: string, identityKey: string | null) => {
		if (identityKey === null) return;
		const ids = (await ctx.query<{ id: string }>(db, SQL.purge, [provider, identityKey, [...SUPERSEDED_CAUSES]])).map(
			(r) => r.id,
		);
		if (ids.length === 0) return;
		await ctx.exec(db, SQL.purgeBlocks, [ids]);
		await ctx.exec(db, SQL.purgeLeases, [ids]);
	};

	const lockProvider = (db: Executor, provider: string) =>
		ctx.query(db, SQL.lockProvider, [`${ctx.schema}:provider:${provider}`]);

	const checkProvider = (provider: string | undefined) => {
		if (provider !== undefined) checkStoreInput(input.provider, provider, "provider");
	};

	return {
		async listActive(provider) {
			ctx.assertOpen("listActive");
			checkProvider(provider);
			return ctx.read("listActive", async (db) => decodeAll(await ctx.query(db, SQL.listActive, [provider ?? null])));
		},
		async listDisabled(provider) {
			ctx.assertOpen("listDisabled");
			checkProvider(provider);
			return ctx.read("listDisabled", async (db) =>
				decodeAll(await ctx.query(db, SQL.listDisabled, [provider ?? null])),
			);
		},
		async get(id) {
			ctx.assertOpen("get");
			checkStoreInput(input.id, id, "credential id");
			return ctx.read("get", async (db) => decode(await one(db, SQL.get, [id])));
		},
		async insert(provider, credential) {
			ctx.assertOpen("insert");
			checkStoreInput(input.provider, provider, "provider");
			const encoded = encode(credential);
			return ctx.write("insert", (db) => insertIn(db, provider, encoded));
		},
		async insertIfProviderAbsent(provider, credential) {
			ctx.assertOpen("insertIfProviderAbsent");
			checkStoreInput(input.provider, provider, "provider");
			const encoded = encode(credential);
			return ctx.write("insertIfProviderAbsent", async (db) => {
				// The provider lock serialises this check-then-insert with every other writer of the provider.
				await lockProvider(db, provider);
				const existing = await one(
					db,
					`SELECT ${COLUMNS} FROM ${T} WHERE provider = $1 AND disabled_cause IS NULL LIMIT 1`,
					[provider],
				);
				return existing ? null : insertIn(db, provider, encoded);
			});
		},
		async update(id, credential) {
			ctx.assertOpen("update");
			checkStoreInput(input.id, id, "credential id");
			const encoded = encode(credential);
			return ctx.write("update", (db) => updateIn(db, id, encoded, null));
		},
		async compareAndSet(id, expectedVersion, credential): Promise<CasResult> {
			ctx.assertOpen("compareAndSet");
			checkStoreInput(input.id, id, "credential id");
			checkStoreInput(input.version, expectedVersion, "expected version");
			const encoded = encode(credential);
			return ctx.write("compareAndSet", async (db): Promise<CasResult> => {
				const row = await updateIn(db, id, encoded, expectedVersion);
				return row ? { ok: true, row } : { ok: false, current: decode(await one(db, SQL.get, [id])) };
			});
		},
		async compareAndSetDisabled(id, expectedVersion, credential): Promise<CasResult> {
			ctx.assertOpen("compareAndSetDisabled");
			checkStoreInput(input.id, id, "credential id");
			checkStoreInput(input.version, expectedVersion, "expected version");
			const encoded = encode(credential);
			return ctx.write("compareAndSetDisabled", async (db): Promise<CasResult> => {
				const current = await one(db, `${SQL.get} FOR UPDATE`, [id]);
				const row = current
					? decode(
							await one(db, SQL.updateDisabled, [
								encoded.type,
								encoded.data,
								credentialIdentityKey(current.provider, encoded.credential),
								ctx.now(),
								id,
								expectedVersion,
							]),
						)
					: null;
				return row ? { ok: true, row } : { ok: false, current: decode(await one(db, SQL.get, [id])) };
			});
		},
		async compareAndDisable(id, expectedVersion, cause): Promise<CasResult> {
			ctx.assertOpen("compareAndDisable");
			checkStoreInput(input.id, id, "credential id");
			checkStoreInput(input.version, expectedVersion, "expected version");
			checkStoreInput(input.cause, cause, "disable cause");
			return ctx.write("compareAndDisable", async (db): Promise<CasResult> => {
				const row = decode(await one(db, SQL.disable, [cause, ctx.now(), id, expectedVersion]));
				return row ? { ok: true, row } : { ok: false, current: decode(await one(db, SQL.get, [id])) };
			});
		},
		async disable(id, cause) {
			ctx.assertOpen("disable");
			checkStoreInput(input.id, id, "credential id");
			checkStoreInput(input.cause, cause, "disable cause");
			return ctx.write(
				"disable",
				async (db) => (await one(db, SQL.disable, [cause, ctx.now(), id, null])) !== undefined,
			);
		},
		async disableProvider(provider, cause) {
			ctx.assertOpen("disableProvider");
			checkStoreInput(input.provider, provider, "provider");
			checkStoreInput(input.cause, cause, "disable cause");
			return ctx.write("disableProvider", (db) => ctx.exec(db, SQL.disableProvider, [cause, ctx.now(), provider]));
		},
		async purgeDisabled(filter) {
			ctx.assertOpen("purgeDisabled");
			const valid = checkStoreInput(input.purgeFilter, filter, "purge filter");
			return ctx.write("purgeDisabled", async (db) => {
				const candidates = await ctx.query<{
					id: string;
					provider: string;
					identity_key: string | null;
					disabled_cause: string;
					disabled_at: string | null;
				}>(db, SQL.tombstones, [
					valid.provider ?? null,
					valid.identityKey ?? null,
					valid.disabledBefore === undefined ? null : Math.floor(valid.disabledBefore),
				]);
				const ids = candidates
					.filter((row) =>
						tombstoneMatches(
							{
								id: Number(row.id),
								provider: row.provider,
								identityKey: row.identity_key,
								disabledCause: row.disabled_cause,
								disabledAt: row.disabled_at === null ? null : Number(row.disabled_at),
							},
							valid,
						),
					)
					.map((row) => row.id);
				if (ids.length === 0) return 0;
				await ctx.exec(db, SQL.purgeBlocks, [ids]);
				await ctx.exec(db, SQL.purgeLeases, [ids]);
				return ctx.exec(db, SQL.deleteIds, [ids]);
			});
		},
		async upsertByIdentity(provider, credential) {
			ctx.assertOpen("upsertByIdentity");
			checkStoreInput(input.provider, provider, "provider");
			const encoded = encode(credential);
			const identityKey = credentialIdentityKey(provider, encoded.credential);
			return ctx.write("upsertByIdentity", async (db) => {
				await lockProvider(db, provider);
				// The oldest active row of the identity is the account's stable handle.
				const existing =
					identityKey === null
						? undefined
						: await one(
								db,
								`SELECT ${COLUMNS} FROM ${T} WHERE provider = $1 AND identity_key = $2 AND disabled_cause IS NULL ORDER BY id LIMIT 1`,
								[provider, identityKey],
							);
				await purgeIn(db, provider, identityKey);
				if (existing) {
					return { row: (await updateIn(db, Number(existing.id), encoded, null))!, inserted: false };
				}
				return { row: await insertIn(db, provider, encoded), inserted: true };
			});
		},
		async replaceProvider(provider, credentials) {
			ctx.assertOpen("replaceProvider");
			checkStoreInput(input.provider, provider, "provider");
			if (!Array.isArray(credentials)) {
				throw new AuthpoolError("INVALID_INPUT", "Invalid credentials: expected an array");
			}
			// Validate everything before touching anything: the replace is all or nothing.
			const incoming = credentials.map(encode);
			return ctx.write("replaceProvider", async (db) => {
				await lockProvider(db, provider);
				// Earlier tombstones go first, so the rows this call disables stay inspectable.
				for (const encoded of incoming) {
					await purgeIn(db, provider, credentialIdentityKey(provider, encoded.credential));
				}
				const unmatched = await ctx.query<CredentialRecord>(db, SQL.listActive, [provider]);
				for (const encoded of incoming) {
					const identityKey = credentialIdentityKey(provider, encoded.credential);
					const index = identityKey === null ? -1 : unmatched.findIndex((row) => row.identity_key === identityKey);
					if (index >= 0) {
						const [match] = unmatched.splice(index, 1);
						await updateIn(db, Number(match!.id), encoded, null);
					} else {
						await insertIn(db, provider, encoded);
					}
				}
				const now = ctx.now();
				for (const stale of unmatched) await one(db, SQL.disable, [REPLACED_BY_NEWER, now, stale.id, null]);
				return decodeAll(await ctx.query(db, SQL.listActive, [provider]));
			});
		},
	};
}
