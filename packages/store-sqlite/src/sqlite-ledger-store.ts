/**
 * Usage ledger: hourly usage snapshots (one row per provider + account + limit + hour; a later write
 * in the same hour replaces it) and request costs. Queries are built with kysely (filters vary) and
 * executed synchronously on the connection, so multi-entry writes are one IMMEDIATE transaction.
 */
import type {
	ClientUsageBucket,
	UsageCostHistoryEntry,
	UsageHistoryEntry,
	UsageLedgerStore,
	UsageStatus,
} from "@authpool/core";
import {
	checkStoreInput,
	clientUsageIncrements,
	clientUsageSinceBucket,
	storeInputSchemas as input,
	summarizeClientUsage,
} from "@authpool/core";
import type { CompiledQuery, Kysely } from "kysely";
import type { ClientUsageTable, SqliteSchema, UsageCostsTable, UsageHistoryTable } from "./schema";
import type { SqliteContext } from "./sqlite-context";

const HOUR_MS = 3_600_000;

type HistoryRecord = Omit<UsageHistoryTable, "id">;
type CostRecord = Omit<UsageCostsTable, "id">;

function toHistoryEntry(record: HistoryRecord): UsageHistoryEntry {
	const entry: UsageHistoryEntry = {
		recordedAt: record.recorded_at,
		provider: record.provider,
		accountKey: record.account_key,
		limitId: record.limit_id,
		label: record.label,
	};
	if (record.email !== null) entry.email = record.email;
	if (record.account_id !== null) entry.accountId = record.account_id;
	if (record.window_label !== null) entry.windowLabel = record.window_label;
	if (record.used_fraction !== null) entry.usedFraction = record.used_fraction;
	if (record.status !== null) entry.status = record.status as UsageStatus;
	if (record.resets_at !== null) entry.resetsAt = record.resets_at;
	return entry;
}

function toCostEntry(record: CostRecord): UsageCostHistoryEntry {
	return {
		recordedAt: record.recorded_at,
		provider: record.provider,
		accountKey: record.account_key,
		costUsd: record.cost_usd,
	};
}

function toClientBucket(record: ClientUsageTable): ClientUsageBucket {
	return {
		installId: record.install_id,
		hostname: record.hostname,
		app: record.app,
		provider: record.provider,
		model: record.model,
		hourBucket: record.hour_bucket,
		firstAt: record.first_at,
		lastAt: record.last_at,
		requests: record.requests,
		inputTokens: record.input_tokens,
		outputTokens: record.output_tokens,
		cacheReadTokens: record.cache_read_tokens,
		cacheWriteTokens: record.cache_write_tokens,
		costUsd: record.cost_usd,
	};
}

const ADD_CLIENT_USAGE =
	"INSERT INTO auth_client_usage (install_id, app, provider, model, hour_bucket, hostname, first_at, last_at, requests, " +
	"input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) " +
	"ON CONFLICT (install_id, app, provider, model, hour_bucket) DO UPDATE SET " +
	"hostname = coalesce(excluded.hostname, hostname), first_at = min(first_at, excluded.first_at), " +
	"last_at = max(last_at, excluded.last_at), requests = requests + excluded.requests, " +
	"input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, " +
	"cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, " +
	"cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, cost_usd = cost_usd + excluded.cost_usd";

export function createSqliteLedgerStore(ctx: SqliteContext, kysely: Kysely<SqliteSchema>): UsageLedgerStore {
	const run = (query: CompiledQuery) => ctx.statement(query.sql).run(...query.parameters);
	const all = <T>(query: CompiledQuery) => ctx.statement(query.sql).all(...query.parameters) as T[];

	return {
		async recordUsageSnapshots(entries) {
			ctx.assertOpen("ledger.recordUsageSnapshots");
			checkStoreInput(input.usageEntries, entries, "usage snapshots");
			if (entries.length === 0) return;
			await ctx.write("ledger.recordUsageSnapshots", () => {
				for (const entry of entries) {
					const values: HistoryRecord = {
						hour_bucket: Math.floor(entry.recordedAt / HOUR_MS),
						recorded_at: entry.recordedAt,
						provider: entry.provider,
						account_key: entry.accountKey,
						limit_id: entry.limitId,
						email: entry.email ?? null,
						account_id: entry.accountId ?? null,
						label: entry.label,
						window_label: entry.windowLabel ?? null,
						used_fraction: entry.usedFraction ?? null,
						status: entry.status ?? null,
						resets_at: entry.resetsAt ?? null,
					};
					// REPLACE (delete + insert) rather than an upsert: the newer snapshot also takes a newer id, so it
					// sorts after same-time entries written before it, as a fresh write would.
					run(kysely.replaceInto("auth_usage_history").values(values).compile());
				}
			});
		},

		async listUsageHistory(query) {
			ctx.assertOpen("ledger.listUsageHistory");
			checkStoreInput(input.usageQuery, query, "usage history query");
			let select = kysely.selectFrom("auth_usage_history").selectAll();
			if (query?.provider !== undefined) select = select.where("provider", "=", query.provider);
			if (query?.sinceMs !== undefined) select = select.where("recorded_at", ">=", query.sinceMs);
			const compiled = select.orderBy("recorded_at").orderBy("id").compile();
			return ctx.read("ledger.listUsageHistory", () => all<HistoryRecord>(compiled).map(toHistoryEntry));
		},

		async recordUsageCosts(entries) {
			ctx.assertOpen("ledger.recordUsageCosts");
			checkStoreInput(input.costEntries, entries, "usage costs");
			if (entries.length === 0) return;
			await ctx.write("ledger.recordUsageCosts", () => {
				for (const entry of entries) {
					run(
						kysely
							.insertInto("auth_usage_costs")
							.values({
								recorded_at: entry.recordedAt,
								provider: entry.provider,
								account_key: entry.accountKey,
								cost_usd: entry.costUsd,
							})
							.compile(),
					);
				}
			});
		},

		async recordClientUsage(report) {
			ctx.assertOpen("ledger.recordClientUsage");
			const increments = clientUsageIncrements(checkStoreInput(input.clientUsageReport, report, "client usage report"));
			if (increments.length === 0) return;
			await ctx.write("ledger.recordClientUsage", () => {
				for (const b of increments) {
					ctx
						.statement(ADD_CLIENT_USAGE)
						.run(
							b.installId,
							b.app,
							b.provider,
							b.model,
							b.hourBucket,
							b.hostname,
							b.firstAt,
							b.lastAt,
							b.requests,
							b.inputTokens,
							b.outputTokens,
							b.cacheReadTokens,
							b.cacheWriteTokens,
							b.costUsd,
						);
				}
			});
		},

		async listClientUsage(query) {
			ctx.assertOpen("ledger.listClientUsage");
			checkStoreInput(input.clientUsageQuery, query, "client usage query");
			const since = clientUsageSinceBucket(query?.sinceMs);
			let select = kysely.selectFrom("auth_client_usage").selectAll();
			if (Number.isFinite(since)) select = select.where("hour_bucket", ">=", since);
			const compiled = select.compile();
			return ctx.read("ledger.listClientUsage", () =>
				summarizeClientUsage(all<ClientUsageTable>(compiled).map(toClientBucket)),
			);
		},

		async listUsageCosts(query) {
			ctx.assertOpen("ledger.listUsageCosts");
			checkStoreInput(input.costQuery, query, "usage cost query");
			let select = kysely.selectFrom("auth_usage_costs").selectAll();
			if (query?.provider !== undefined) select = select.where("provider", "=", query.provider);
			if (query?.accountKey !== undefined) select = select.where("account_key", "=", query.accountKey);
			if (query?.sinceMs !== undefined) select = select.where("recorded_at", ">=", query.sinceMs);
			const compiled = select.orderBy("recorded_at").orderBy("id").compile();
			return ctx.read("ledger.listUsageCosts", () => all<CostRecord>(compiled).map(toCostEntry));
		},
	};
}
