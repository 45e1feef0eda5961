/**
 * Versioned schema migrations (kysely `Migrator`). Names sort in apply order; a database that has
 * applied a name this code does not know was written by a newer version and is refused.
 */
import { type Kysely, type Migration, sql } from "kysely";

/** Kysely's bookkeeping tables, prefixed so an injected database can also hold the app's own migrations. */
export const MIGRATION_TABLE = "authpool_migration";
export const MIGRATION_LOCK_TABLE = "authpool_migration_lock";

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was then, not today's types.
type AnyKysely = Kysely<any>;

const initial: Migration = {
	async up(db: AnyKysely) {
		await db.schema
			.createTable("auth_credentials")
			.addColumn("id", "integer", (col) => col.primaryKey().autoIncrement())
			.addColumn("provider", "text", (col) => col.notNull())
			.addColumn("credential_type", "text", (col) => col.notNull())
			.addColumn("data", "text", (col) => col.notNull())
			.addColumn("identity_key", "text")
			.addColumn("version", "integer", (col) => col.notNull().defaultTo(1))
			.addColumn("disabled_cause", "text")
			.addColumn("created_at", "integer", (col) => col.notNull())
			.addColumn("updated_at", "integer", (col) => col.notNull())
			.addColumn("disabled_at", "integer")
			.execute();
		await db.schema
			.createIndex("auth_credentials_provider_active")
			.on("auth_credentials")
			.columns(["provider", "disabled_cause", "id"])
			.execute();
		await db.schema
			.createIndex("auth_credentials_identity")
			.on("auth_credentials")
			.columns(["provider", "identity_key"])
			.execute();

		await db.schema
			.createTable("auth_cache")
			.addColumn("key", "text", (col) => col.primaryKey())
			.addColumn("value", "text", (col) => col.notNull())
			.addColumn("expires_at", "integer", (col) => col.notNull())
			.execute();
		await db.schema.createIndex("auth_cache_expires").on("auth_cache").column("expires_at").execute();

		// Blocks and leases reference credential ids loosely (no foreign key): a block may be written for a
		// row another process is inserting, and tombstone purges delete them explicitly.
		await db.schema
			.createTable("auth_credential_blocks")
			.addColumn("credential_id", "integer", (col) => col.notNull())
			.addColumn("provider_key", "text", (col) => col.notNull())
			.addColumn("scope", "text", (col) => col.notNull().defaultTo(""))
			.addColumn("blocked_until", "integer", (col) => col.notNull())
			.addColumn("updated_at", "integer", (col) => col.notNull())
			.addPrimaryKeyConstraint("auth_credential_blocks_pk", ["credential_id", "provider_key", "scope"])
			.execute();

		await db.schema
			.createTable("auth_refresh_leases")
			.addColumn("credential_id", "integer", (col) => col.primaryKey())
			.addColumn("owner", "text", (col) => col.notNull())
			.addColumn("expires_at", "integer", (col) => col.notNull())
			.addColumn("updated_at", "integer", (col) => col.notNull())
			.execute();

		await db.schema
			.createTable("auth_change_revision")
			.addColumn("id", "integer", (col) => col.primaryKey().check(sql`id = 1`))
			.addColumn("revision", "integer", (col) => col.notNull())
			.execute();
		await db.insertInto("auth_change_revision").values({ id: 1, revision: 1 }).execute();

		// Every write to rows or blocks bumps the revision in the same transaction, so a peer's
		// `PRAGMA data_version` + one revision read is a complete change check.
		for (const table of ["auth_credentials", "auth_credential_blocks"]) {
			for (const event of ["INSERT", "UPDATE", "DELETE"]) {
				await sql
					.raw(
						`CREATE TRIGGER ${table}_${event.toLowerCase()}_revision AFTER ${event} ON ${table} ` +
							"BEGIN UPDATE auth_change_revision SET revision = revision + 1 WHERE id = 1; END",
					)
					.execute(db);
			}
		}
	},
};

const usageLedger: Migration = {
	async up(db: AnyKysely) {
		await db.schema
			.createTable("auth_usage_history")
			.addColumn("id", "integer", (col) => col.primaryKey().autoIncrement())
			.addColumn("hour_bucket", "integer", (col) => col.notNull())
			.addColumn("recorded_at", "integer", (col) => col.notNull())
			.addColumn("provider", "text", (col) => col.notNull())
			.addColumn("account_key", "text", (col) => col.notNull())
			.addColumn("limit_id", "text", (col) => col.notNull())
			.addColumn("email", "text")
			.addColumn("account_id", "text")
			.addColumn("label", "text", (col) => col.notNull())
			.addColumn("window_label", "text")
			.addColumn("used_fraction", "real")
			.addColumn("status", "text")
			.addColumn("resets_at", "integer")
			.addUniqueConstraint("auth_usage_history_bucket", ["provider", "account_key", "limit_id", "hour_bucket"])
			.execute();
		await db.schema.createIndex("auth_usage_history_time").on("auth_usage_history").column("recorded_at").execute();

		await db.schema
			.createTable("auth_usage_costs")
			.addColumn("id", "integer", (col) => col.primaryKey().autoIncrement())
			.addColumn("recorded_at", "integer", (col) => col.notNull())
			.addColumn("provider", "text", (col) => col.notNull())
			.addColumn("account_key", "text", (col) => col.notNull())
			.addColumn("cost_usd", "real", (col) => col.notNull())
			.execute();
		await db.schema.createIndex("auth_usage_costs_time").on("auth_usage_costs").column("recorded_at").execute();
	},
};

const leaseHeartbeat: Migration = {
	async up(db: AnyKysely) {
		// Waiters judge a lease by its heartbeat on their own monotonic clock, not by comparing wall clocks.
		await db.schema
			.alterTable("auth_refresh_leases")
			.addColumn("ttl_ms", "integer", (col) => col.notNull().defaultTo(0))
			.execute();
		await db.schema
			.alterTable("auth_refresh_leases")
			.addColumn("beat", "integer", (col) => col.notNull().defaultTo(0))
			.execute();
	},
};

const providerSettings: Migration = {
	async up(db: AnyKysely) {
		// One small row per provider (account priority); writes bump the revision so peers re-read it.
		await db.schema
			.createTable("auth_provider_settings")
			.addColumn("provider", "text", (col) => col.primaryKey())
			.addColumn("data", "text", (col) => col.notNull())
			.addColumn("updated_at", "integer", (col) => col.notNull())
			.execute();
		for (const event of ["INSERT", "UPDATE", "DELETE"]) {
			await sql
				.raw(
					`CREATE TRIGGER auth_provider_settings_${event.toLowerCase()}_revision AFTER ${event} ON auth_provider_settings ` +
						"BEGIN UPDATE auth_change_revision SET revision = revision + 1 WHERE id = 1; END",
				)
				.execute(db);
		}
	},
};

const clientUsage: Migration = {
	async up(db: AnyKysely) {
		// Client-observed usage in hourly buckets: counts are added in place, so it grows with hours, not requests.
		await db.schema
			.createTable("auth_client_usage")
			.addColumn("install_id", "text", (col) => col.notNull())
			.addColumn("app", "text", (col) => col.notNull())
			.addColumn("provider", "text", (col) => col.notNull())
			.addColumn("model", "text", (col) => col.notNull())
			.addColumn("hour_bucket", "integer", (col) => col.notNull())
			.addColumn("hostname", "text")
			.addColumn("first_at", "integer", (col) => col.notNull())
			.addColumn("last_at", "integer", (col) => col.notNull())
			.addColumn("requests", "integer", (col) => col.notNull())
			.addColumn("input_tokens", "integer", (col) => col.notNull())
			.addColumn("output_tokens", "integer", (col) => col.notNull())
			.addColumn("cache_read_tokens", "integer", (col) => col.notNull())
			.addColumn("cache_write_tokens", "integer", (col) => col.notNull())
			.addColumn("cost_usd", "real", (col) => col.notNull())
			.addPrimaryKeyConstraint("auth_client_usage_pk", ["install_id", "app", "provider", "model", "hour_bucket"])
			.execute();
		await db.schema.createIndex("auth_client_usage_hour").on("auth_client_usage").column("hour_bucket").execute();
	},
};

/** Every migration this version knows, by name (apply order = name order). */
export const migrations: Readonly<Record<string, Migration>> = Object.freeze({
	"0001_initial": initial,
	"0002_usage_ledger": usageLedger,
	"0003_lease_heartbeat": leaseHeartbeat,
	"0004_provider_settings": providerSettings,
	"0005_client_usage": clientUsage,
});
