/**
 * Cache, blocks, leases and the usage ledger. Blocks max-merge with `GREATEST` semantics in one
 * upsert; leases are rows taken over by one conditional upsert; cache and ledger writes do not bump
 * the change revision (no trigger on their tables).
 */
import { randomInt } from "node:crypto";
import {
	type BlockStore,
	type CacheStore,
	type ClientUsageBucket,
	type CredentialBlock,
	checkStoreInput,
	clientUsageIncrements,
	clientUsageSinceBucket,
	storeInputSchemas as input,
	type LeaseStore,
	type ProviderSettings,
	type ProviderSettingsStore,
	type RefreshLease,
	summarizeClientUsage,
	type UsageCostHistoryEntry,
	type UsageHistoryEntry,
	type UsageLedgerStore,
	type UsageStatus,
} from "@authpool/core";
import type { PgContext } from "./pg-context";

type Num = string | number;

export function createPostgresCacheStore(ctx: PgContext): CacheStore {
	const T = ctx.t("auth_cache");
	const run = <R>(operation: string, text: string, params: unknown[]) =>
		ctx.withRetry(operation, () => ctx.query<R>(ctx.db, text, params));
	return {
		async get(key, options) {
			ctx.assertOpen("cache.get");
			checkStoreInput(input.key, key, "cache key");
			const [entry] = await run<{ value: string; expires_at: Num }>(
				"cache.get",
				`SELECT value, expires_at FROM ${T} WHERE key = $1`,
				[key],
			);
			if (!entry) return null;
			if (Number(entry.expires_at) <= ctx.now() && options?.includeExpired !== true) return null;
			return entry.value;
		},
		async set(key, value, expiresAt) {
			ctx.assertOpen("cache.set");
			checkStoreInput(input.key, key, "cache key");
			checkStoreInput(input.key, value, "cache value");
			checkStoreInput(input.finite, expiresAt, "cache expiry");
			await run(
				"cache.set",
				`INSERT INTO ${T} (key, value, expires_at) VALUES ($1, $2, $3) ` +
					"ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
				[key, value, Math.floor(expiresAt)],
			);
		},
		// Session pins written behind in batches: one statement for the whole batch.
		async setMany(entries) {
			ctx.assertOpen("cache.setMany");
			for (const entry of entries) {
				checkStoreInput(input.key, entry.key, "cache key");
				checkStoreInput(input.key, entry.value, "cache value");
				checkStoreInput(input.finite, entry.expiresAt, "cache expiry");
			}
			// Last write per key wins (ON CONFLICT may not touch one row twice in a statement).
			const last = new Map(entries.map((entry) => [entry.key, entry]));
			if (last.size === 0) return;
			const keys: string[] = [];
			const values: string[] = [];
			const expiries: number[] = [];
			for (const entry of last.values()) {
				keys.push(entry.key);
				values.push(entry.value);
				expiries.push(Math.floor(entry.expiresAt));
			}
			await run(
				"cache.setMany",
				`INSERT INTO ${T} (key, value, expires_at) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ` +
					"ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
				[keys, values, expiries],
			);
		},
		async delete(key) {
			ctx.assertOpen("cache.delete");
			checkStoreInput(input.key, key, "cache key");
			await run("cache.delete", `DELETE FROM ${T} WHERE key = $1`, [key]);
		},
		async cleanExpired() {
			ctx.assertOpen("cache.cleanExpired");
			const rows = await run("cache.cleanExpired", `DELETE FROM ${T} WHERE expires_at <= $1 RETURNING 1`, [ctx.now()]);
			return rows.length;
		},
	};
}

interface BlockRecord {
	credential_id: Num;
	provider_key: string;
	scope: string;
	blocked_until: Num;
	updated_at: Num;
}

const toBlock = (r: BlockRecord): CredentialBlock => ({
	credentialId: Number(r.credential_id),
	providerKey: r.provider_key,
	scope: r.scope,
	blockedUntil: Number(r.blocked_until),
	updatedAt: Number(r.updated_at),
});

export function createPostgresBlockStore(ctx: PgContext): BlockStore {
	const T = ctx.t("auth_credential_blocks");
	const COLUMNS = "credential_id, provider_key, scope, blocked_until, updated_at";
	return {
		async upsert(block) {
			ctx.assertOpen("blocks.upsert");
			const valid = checkStoreInput(input.block, block, "block");
			const key = [valid.credentialId, valid.providerKey, valid.scope];
			return ctx.write("blocks.upsert", async (db) => {
				// Max-merge: a write that would not lengthen the block changes nothing (and fires no trigger).
				await ctx.exec(
					db,
					`INSERT INTO ${T} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5) ` +
						"ON CONFLICT (credential_id, provider_key, scope) DO UPDATE SET " +
						`blocked_until = GREATEST(${T}.blocked_until, excluded.blocked_until), updated_at = excluded.updated_at ` +
						`WHERE excluded.blocked_until > ${T}.blocked_until`,
					[...key, Math.ceil(valid.blockedUntil), ctx.now()],
				);
				const [row] = await ctx.query<BlockRecord>(
					db,
					`SELECT ${COLUMNS} FROM ${T} WHERE credential_id = $1 AND provider_key = $2 AND scope = $3`,
					key,
				);
				return toBlock(row!);
			});
		},
		async list(filter) {
			ctx.assertOpen("blocks.list");
			checkStoreInput(input.blockFilter, filter, "block filter");
			return ctx.read("blocks.list", async (db) =>
				(
					await ctx.query<BlockRecord>(
						db,
						`SELECT ${COLUMNS} FROM ${T} WHERE blocked_until > $1 AND ($2::bigint IS NULL OR credential_id = $2) ` +
							"AND ($3::text IS NULL OR provider_key = $3) ORDER BY credential_id, provider_key, scope",
						[ctx.now(), filter?.credentialId ?? null, filter?.providerKey ?? null],
					)
				).map(toBlock),
			);
		},
		async delete(credentialId, scope) {
			ctx.assertOpen("blocks.delete");
			checkStoreInput(input.id, credentialId, "credential id");
			if (scope !== undefined) checkStoreInput(input.key, scope, "block scope");
			return ctx.write("blocks.delete", (db) =>
				ctx.exec(db, `DELETE FROM ${T} WHERE credential_id = $1 AND ($2::text IS NULL OR scope = $2)`, [
					credentialId,
					scope ?? null,
				]),
			);
		},
	};
}

interface LeaseRecord {
	credential_id: Num;
	owner: string;
	expires_at: Num;
	ttl_ms: Num;
	beat: Num;
}

const toLease = (r: LeaseRecord): RefreshLease => ({
	credentialId: Number(r.credential_id),
	owner: r.owner,
	expiresAt: Number(r.expires_at),
	ttlMs: Number(r.ttl_ms),
	beat: Number(r.beat),
});

/** A fresh random heartbeat per write (fits a JS number exactly). */
const nextBeat = () => randomInt(1, 2 ** 47);

export function createPostgresLeaseStore(ctx: PgContext): LeaseStore {
	const T = ctx.t("auth_refresh_leases");
	const SELECT = `SELECT credential_id, owner, expires_at, ttl_ms, beat FROM ${T} WHERE credential_id = $1`;
	const run = <R>(operation: string, text: string, params: unknown[]) =>
		ctx.withRetry(operation, () => ctx.query<R>(ctx.db, text, params));
	const validate = (operation: string, credentialId: number, owner?: string, ttlMs?: number) => {
		ctx.assertOpen(operation);
		checkStoreInput(input.id, credentialId, "credential id");
		if (operation !== "leases.get") checkStoreInput(input.owner, owner, "lease owner");
		if (operation === "leases.acquire" || operation === "leases.renew") checkStoreInput(input.ttl, ttlMs, "lease ttl");
	};
	return {
		async acquire(credentialId, owner, ttlMs, options) {
			validate("leases.acquire", credentialId, owner, ttlMs);
			const replace = options?.replace;
			if (replace !== undefined) checkStoreInput(input.staleLease, replace, "stale lease");
			const now = ctx.now();
			const ttl = Math.ceil(ttlMs);
			// One statement: the upsert only takes the row when free, ours, lapsed, or exactly the named stale one.
			const [taken] = await run<LeaseRecord>(
				"leases.acquire",
				`INSERT INTO ${T} AS l (credential_id, owner, expires_at, updated_at, ttl_ms, beat) ` +
					"VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (credential_id) DO UPDATE SET owner = excluded.owner, " +
					"expires_at = excluded.expires_at, updated_at = excluded.updated_at, ttl_ms = excluded.ttl_ms, beat = excluded.beat " +
					"WHERE l.owner = excluded.owner OR l.expires_at <= $4 OR (l.owner = $7::text AND l.beat = $8::bigint) " +
					"RETURNING credential_id, owner, expires_at, ttl_ms, beat",
				[credentialId, owner, now + ttl, now, ttl, nextBeat(), replace?.owner ?? null, replace?.beat ?? null],
			);
			if (taken) return { acquired: true, lease: toLease(taken) };
			const [current] = await run<LeaseRecord>("leases.acquire", SELECT, [credentialId]);
			return { acquired: false, lease: toLease(current!) };
		},
		async renew(credentialId, owner, ttlMs) {
			validate("leases.renew", credentialId, owner, ttlMs);
			const now = ctx.now();
			const ttl = Math.ceil(ttlMs);
			const rows = await run(
				"leases.renew",
				`UPDATE ${T} SET expires_at = $1, updated_at = $2, ttl_ms = $3, beat = $4 WHERE credential_id = $5 AND owner = $6 RETURNING 1`,
				[now + ttl, now, ttl, nextBeat(), credentialId, owner],
			);
			return rows.length > 0;
		},
		async release(credentialId, owner) {
			validate("leases.release", credentialId, owner);
			const rows = await run("leases.release", `DELETE FROM ${T} WHERE credential_id = $1 AND owner = $2 RETURNING 1`, [
				credentialId,
				owner,
			]);
			return rows.length > 0;
		},
		async get(credentialId) {
			validate("leases.get", credentialId);
			const [row] = await run<LeaseRecord>("leases.get", SELECT, [credentialId]);
			return row ? toLease(row) : null;
		},
	};
}

const HOUR_MS = 3_600_000;

interface HistoryRecord {
	recorded_at: Num;
	provider: string;
	account_key: string;
	limit_id: string;
	email: string | null;
	account_id: string | null;
	label: string;
	window_label: string | null;
	used_fraction: number | null;
	status: string | null;
	resets_at: Num | null;
}

function toHistoryEntry(r: HistoryRecord): UsageHistoryEntry {
	const entry: UsageHistoryEntry = {
		recordedAt: Number(r.recorded_at),
		provider: r.provider,
		accountKey: r.account_key,
		limitId: r.limit_id,
		label: r.label,
	};
	if (r.email !== null) entry.email = r.email;
	if (r.account_id !== null) entry.accountId = r.account_id;
	if (r.window_label !== null) entry.windowLabel = r.window_label;
	if (r.used_fraction !== null) entry.usedFraction = r.used_fraction;
	if (r.status !== null) entry.status = r.status as UsageStatus;
	if (r.resets_at !== null) entry.resetsAt = Number(r.resets_at);
	return entry;
}

interface ClientUsageRecord {
	install_id: string;
	app: string;
	provider: string;
	model: string;
	hour_bucket: Num;
	hostname: string | null;
	first_at: Num;
	last_at: Num;
	requests: Num;
	input_tokens: Num;
	output_tokens: Num;
	cache_read_tokens: Num;
	cache_write_tokens: Num;
	cost_usd: number;
}

function toClientBucket(r: ClientUsageRecord): ClientUsageBucket {
	return {
		installId: r.install_id,
		hostname: r.hostname,
		app: r.app,
		provider: r.provider,
		model: r.model,
		hourBucket: Number(r.hour_bucket),
		firstAt: Number(r.first_at),
		lastAt: Number(r.last_at),
		requests: Number(r.requests),
		inputTokens: Number(r.input_tokens),
		outputTokens: Number(r.output_tokens),
		cacheReadTokens: Number(r.cache_read_tokens),
		cacheWriteTokens: Number(r.cache_write_tokens),
		costUsd: r.cost_usd,
	};
}

export function createPostgresLedgerStore(ctx: PgContext): UsageLedgerStore {
	const H = ctx.t("auth_usage_history");
	const C = ctx.t("auth_usage_costs");
	const U = ctx.t("auth_client_usage");
	const ADD_CLIENT_USAGE =
		`INSERT INTO ${U} AS u (install_id, app, provider, model, hour_bucket, hostname, first_at, last_at, requests, ` +
		"input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd) " +
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) " +
		"ON CONFLICT (install_id, app, provider, model, hour_bucket) DO UPDATE SET " +
		"hostname = coalesce(excluded.hostname, u.hostname), first_at = least(u.first_at, excluded.first_at), " +
		"last_at = greatest(u.last_at, excluded.last_at), requests = u.requests + excluded.requests, " +
		"input_tokens = u.input_tokens + excluded.input_tokens, output_tokens = u.output_tokens + excluded.output_tokens, " +
		"cache_read_tokens = u.cache_read_tokens + excluded.cache_read_tokens, " +
		"cache_write_tokens = u.cache_write_tokens + excluded.cache_write_tokens, cost_usd = u.cost_usd + excluded.cost_usd";
	const HISTORY_COLUMNS =
		"recorded_at, provider, account_key, limit_id, email, account_id, label, window_label, used_fraction, status, resets_at";
	return {
		async recordUsageSnapshots(entries) {
			ctx.assertOpen("ledger.recordUsageSnapshots");
			checkStoreInput(input.usageEntries, entries, "usage snapshots");
			if (entries.length === 0) return;
			await ctx.withRetry("ledger.recordUsageSnapshots", () =>
				ctx.db.transaction().execute(async (trx) => {
					for (const e of entries) {
						const bucket = Math.floor(e.recordedAt / HOUR_MS);
						// Delete + insert rather than an upsert: the newer snapshot also takes a newer id, so it sorts
						// after same-time entries written before it.
						await ctx.exec(
							trx,
							`DELETE FROM ${H} WHERE provider = $1 AND account_key = $2 AND limit_id = $3 AND hour_bucket = $4`,
							[e.provider, e.accountKey, e.limitId, bucket],
						);
						await ctx.exec(
							trx,
							`INSERT INTO ${H} (hour_bucket, ${HISTORY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
							[
								bucket,
								Math.floor(e.recordedAt),
								e.provider,
								e.accountKey,
								e.limitId,
								e.email ?? null,
								e.accountId ?? null,
								e.label,
								e.windowLabel ?? null,
								e.usedFraction ?? null,
								e.status ?? null,
								e.resetsAt === undefined ? null : Math.floor(e.resetsAt),
							],
						);
					}
				}),
			);
		},
		async listUsageHistory(query) {
			ctx.assertOpen("ledger.listUsageHistory");
			checkStoreInput(input.usageQuery, query, "usage history query");
			return ctx.read("ledger.listUsageHistory", async (db) =>
				(
					await ctx.query<HistoryRecord>(
						db,
						`SELECT ${HISTORY_COLUMNS} FROM ${H} WHERE ($1::text IS NULL OR provider = $1) ` +
							"AND ($2::float8 IS NULL OR recorded_at >= $2) ORDER BY recorded_at, id",
						[query?.provider ?? null, query?.sinceMs ?? null],
					)
				).map(toHistoryEntry),
			);
		},
		async recordUsageCosts(entries) {
			ctx.assertOpen("ledger.recordUsageCosts");
			checkStoreInput(input.costEntries, entries, "usage costs");
			if (entries.length === 0) return;
			await ctx.withRetry("ledger.recordUsageCosts", () =>
				ctx.db.transaction().execute(async (trx) => {
					for (const e of entries) {
						await ctx.exec(
							trx,
							`INSERT INTO ${C} (recorded_at, provider, account_key, cost_usd) VALUES ($1, $2, $3, $4)`,
							[Math.floor(e.recordedAt), e.provider, e.accountKey, e.costUsd],
						);
					}
				}),
			);
		},
		async recordClientUsage(report) {
			ctx.assertOpen("ledger.recordClientUsage");
			const increments = clientUsageIncrements(checkStoreInput(input.clientUsageReport, report, "client usage report"));
			if (increments.length === 0) return;
			// One upsert-add per bucket: concurrent writers to one bucket serialise on its row, nothing is lost.
			await ctx.withRetry("ledger.recordClientUsage", () =>
				ctx.db.transaction().execute(async (trx) => {
					for (const b of increments) {
						await ctx.exec(trx, ADD_CLIENT_USAGE, [
							b.installId,
							b.app,
							b.provider,
							b.model,
							b.hourBucket,
							b.hostname,
							Math.floor(b.firstAt),
							Math.floor(b.lastAt),
							b.requests,
							b.inputTokens,
							b.outputTokens,
							b.cacheReadTokens,
							b.cacheWriteTokens,
							b.costUsd,
						]);
					}
				}),
			);
		},
		async listClientUsage(query) {
			ctx.assertOpen("ledger.listClientUsage");
			checkStoreInput(input.clientUsageQuery, query, "client usage query");
			const since = clientUsageSinceBucket(query?.sinceMs);
			return ctx.read("ledger.listClientUsage", async (db) =>
				summarizeClientUsage(
					(
						await ctx.query<ClientUsageRecord>(
							db,
							`SELECT * FROM ${U} WHERE ($1::bigint IS NULL OR hour_bucket >= $1)`,
							[Number.isFinite(since) ? since : null],
						)
					).map(toClientBucket),
				),
			);
		},
		async listUsageCosts(query) {
			ctx.assertOpen("ledger.listUsageCosts");
			checkStoreInput(input.costQuery, query, "usage cost query");
			return ctx.read("ledger.listUsageCosts", async (db) =>
				(
					await ctx.query<{ recorded_at: Num; provider: string; account_key: string; cost_usd: number }>(
						db,
						`SELECT recorded_at, provider, account_key, cost_usd FROM ${C} WHERE ($1::text IS NULL OR provider = $1) ` +
							"AND ($2::text IS NULL OR account_key = $2) AND ($3::float8 IS NULL OR recorded_at >= $3) ORDER BY recorded_at, id",
						[query?.provider ?? null, query?.accountKey ?? null, query?.sinceMs ?? null],
					)
				).map(
					(r): UsageCostHistoryEntry => ({
						recordedAt: Number(r.recorded_at),
						provider: r.provider,
						accountKey: r.account_key,
						costUsd: r.cost_usd,
					}),
				),
			);
		},
	};
}

/** Per-provider settings (account priority): one JSON row per provider; writes bump the revision. */
export function createPostgresSettingsStore(ctx: PgContext): ProviderSettingsStore {
	const T = ctx.t("auth_provider_settings");
	const parse = (provider: string, data: string): ProviderSettings =>
		checkStoreInput(input.providerSettings, JSON.parse(data), `stored settings of provider ${provider}`);
	return {
		async get(provider) {
			ctx.assertOpen("settings.get");
			checkStoreInput(input.provider, provider, "provider");
			const [row] = await ctx.read("settings.get", (db) =>
				ctx.query<{ data: string }>(db, `SELECT data FROM ${T} WHERE provider = $1`, [provider]),
			);
			return row ? parse(provider, row.data) : null;
		},
		async set(provider, settings) {
			ctx.assertOpen("settings.set");
			checkStoreInput(input.provider, provider, "provider");
			const valid = checkStoreInput(input.providerSettings, settings, "provider settings");
			const data = JSON.stringify({ accountPriority: valid.accountPriority });
			await ctx.write("settings.set", (trx) =>
				ctx.exec(
					trx,
					`INSERT INTO ${T} (provider, data, updated_at) VALUES ($1, $2, $3) ` +
						"ON CONFLICT (provider) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
					[provider, data, ctx.now()],
				),
			);
		},
		async list() {
			ctx.assertOpen("settings.list");
			const rows = await ctx.read("settings.list", (db) =>
				ctx.query<{ provider: string; data: string }>(db, `SELECT provider, data FROM ${T} ORDER BY provider`),
			);
			const out: Record<string, ProviderSettings> = Object.create(null);
			for (const row of rows) out[row.provider] = parse(row.provider, row.data);
			return out;
		},
	};
}
