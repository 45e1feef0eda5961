/**
 * Versioned schema migrations (kysely `Migrator`) inside the store's schema. Kysely's Postgres adapter
 * holds an advisory lock for the run, so instances starting at once apply each step exactly once.
 */
import { randomUUID } from "node:crypto";
import { AuthpoolError } from "@authpool/core";
import { type Kysely, type Migration, Migrator, sql } from "kysely";

export const MIGRATION_TABLE = "authpool_migration";
export const MIGRATION_LOCK_TABLE = "authpool_migration_lock";

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was then.
type AnyKysely = Kysely<any>;

function initial(schema: string): Migration {
	return {
		async up(root: AnyKysely) {
			const db = root.withSchema(schema);
			await db.schema
				.createTable("auth_credentials")
				.addColumn("id", "bigint", (col) => col.primaryKey().generatedByDefaultAsIdentity())
				.addColumn("provider", "text", (col) => col.notNull())
				.addColumn("credential_type", "text", (col) => col.notNull())
				.addColumn("data", "text", (col) => col.notNull())
				.addColumn("identity_key", "text")
				.addColumn("version", "integer", (col) => col.notNull().defaultTo(1))
				.addColumn("disabled_cause", "text")
				.addColumn("created_at", "bigint", (col) => col.notNull())
				.addColumn("updated_at", "bigint", (col) => col.notNull())
				.addColumn("disabled_at", "bigint")
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
				.addColumn("expires_at", "bigint", (col) => col.notNull())
				.execute();
			await db.schema.createIndex("auth_cache_expires").on("auth_cache").column("expires_at").execute();
			// No foreign keys, as in SQLite: a block may name a row another instance is inserting.
			await db.schema
				.createTable("auth_credential_blocks")
				.addColumn("credential_id", "bigint", (col) => col.notNull())
				.addColumn("provider_key", "text", (col) => col.notNull())
				.addColumn("scope", "text", (col) => col.notNull().defaultTo(""))
				.addColumn("blocked_until", "bigint", (col) => col.notNull())
				.addColumn("updated_at", "bigint", (col) => col.notNull())
				.addPrimaryKeyConstraint("auth_credential_blocks_pk", ["credential_id", "provider_key", "scope"])
				.execute();
			await db.schema
				.createTable("auth_refresh_leases")
				.addColumn("credential_id", "bigint", (col) => col.primaryKey())
				.addColumn("owner", "text", (col) => col.notNull())
				.addColumn("expires_at", "bigint", (col) => col.notNull())
				.addColumn("updated_at", "bigint", (col) => col.notNull())
				.addColumn("ttl_ms", "bigint", (col) => col.notNull())
				.addColumn("beat", "bigint", (col) => col.notNull())
				.execute();
			// `token` names this schema instance, so stores of one process can find their same-schema peers.
			await db.schema
				.createTable("auth_change_revision")
				.addColumn("id", "integer", (col) => col.primaryKey().check(sql`id = 1`))
				.addColumn("revision", "bigint", (col) => col.notNull())
				.addColumn("token", "text", (col) => col.notNull())
				.execute();
			await db.insertInto("auth_change_revision").values({ id: 1, revision: 1, token: randomUUID() }).execute();

			const q = `"${schema}"`;
			// Row-level triggers: only rows a statement really changed bump the revision (a block upsert
			// that would shorten nothing is a no-op for peers). NOTIFY is delivered at commit.
			await sql
				.raw(
					`CREATE FUNCTION ${q}.auth_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE next_revision bigint;
BEGIN
  UPDATE ${q}.auth_change_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision INTO next_revision;
  PERFORM pg_notify('${changeChannel(schema)}', next_revision::text);
  RETURN NULL;
END $$`,
				)
				.execute(root);
			for (const table of ["auth_credentials", "auth_credential_blocks"]) {
				await sql
					.raw(
						`CREATE TRIGGER ${table}_revision AFTER INSERT OR UPDATE OR DELETE ON ${q}.${table} ` +
							`FOR EACH ROW EXECUTE FUNCTION ${q}.auth_bump_revision()`,
					)
					.execute(root);
			}

			await db.schema
				.createTable("auth_usage_history")
				.addColumn("id", "bigint", (col) => col.primaryKey().generatedByDefaultAsIdentity())
				.addColumn("hour_bucket", "bigint", (col) => col.notNull())
				.addColumn("recorded_at", "bigint", (col) => col.notNull())
				.addColumn("provider", "text", (col) => col.notNull())
				.addColumn("account_key", "text", (col) => col.notNull())
				.addColumn("limit_id", "text", (col) => col.notNull())
				.addColumn("email", "text")
				.addColumn("account_id", "text")
				.addColumn("label", "text", (col) => col.notNull())
				.addColumn("window_label", "text")
				.addColumn("used_fraction", "double precision")
				.addColumn("status", "text")
				.addColumn("resets_at", "bigint")
				.addUniqueConstraint("auth_usage_history_bucket", ["provider", "account_key", "limit_id", "hour_bucket"])
				.execute();
			await db.schema.createIndex("auth_usage_history_time").on("auth_usage_history").column("recorded_at").execute();
			await db.schema
				.createTable("auth_usage_costs")
				.addColumn("id", "bigint", (col) => col.primaryKey().generatedByDefaultAsIdentity())
				.addColumn("recorded_at", "bigint", (col) => col.notNull())
				.addColumn("provider", "text", (col) => col.notNull())
				.addColumn("account_key", "text", (col) => col.notNull())
				.addColumn("cost_usd", "double precision", (col) => col.notNull())
				.execute();
			await db.schema.createIndex("auth_usage_costs_time").on("auth_usage_costs").column("recorded_at").execute();
		},
	};
}

/** The NOTIFY channel of a schema (the schema shape is validated, so this is a safe identifier). */
export function changeChannel(schema: string): string {
	return `authpool_changes_${schema}`;
}

function providerSettings(schema: string): Migration {
	return {
		async up(root: AnyKysely) {
			const db = root.withSchema(schema);
			// One small row per provider (account priority); writes bump the revision (and NOTIFY) like rows.
			await db.schema
				.createTable("auth_provider_settings")
				.addColumn("provider", "text", (col) => col.primaryKey())
				.addColumn("data", "text", (col) => col.notNull())
				.addColumn("updated_at", "bigint", (col) => col.notNull())
				.execute();
			const q = `"${schema}"`;
			await sql
				.raw(
					`CREATE TRIGGER auth_provider_settings_revision AFTER INSERT OR UPDATE OR DELETE ON ${q}.auth_provider_settings ` +
						`FOR EACH ROW EXECUTE FUNCTION ${q}.auth_bump_revision()`,
				)
				.execute(root);
		},
	};
}

function clientUsage(schema: string): Migration {
	return {
		async up(root: AnyKysely) {
			const db = root.withSchema(schema);
			// Client-observed usage in hourly buckets: counts are added in place (ON CONFLICT), no revision bump.
			await db.schema
				.createTable("auth_client_usage")
				.addColumn("install_id", "text", (col) => col.notNull())
				.addColumn("app", "text", (col) => col.notNull())
				.addColumn("provider", "text", (col) => col.notNull())
				.addColumn("model", "text", (col) => col.notNull())
				.addColumn("hour_bucket", "bigint", (col) => col.notNull())
				.addColumn("hostname", "text")
				.addColumn("first_at", "bigint", (col) => col.notNull())
				.addColumn("last_at", "bigint", (col) => col.notNull())
				.addColumn("requests", "bigint", (col) => col.notNull())
				.addColumn("input_tokens", "bigint", (col) => col.notNull())
				.addColumn("output_tokens", "bigint", (col) => col.notNull())
				.addColumn("cache_read_tokens", "bigint", (col) => col.notNull())
				.addColumn("cache_write_tokens", "bigint", (col) => col.notNull())
				.addColumn("cost_usd", "double precision", (col) => col.notNull())
				.addPrimaryKeyConstraint("auth_client_usage_pk", ["install_id", "app", "provider", "model", "hour_bucket"])
				.execute();
			await db.schema.createIndex("auth_client_usage_hour").on("auth_client_usage").column("hour_bucket").execute();
		},
	};
}

function migrationsFor(schema: string): Record<string, Migration> {
	return {
		"0001_initial": initial(schema),
		"0002_provider_settings": providerSettings(schema),
		"0003_client_usage": clientUsage(schema),
	};
}

/**
 * SQLSTATEs kysely's introspection fails with when another schema or table of the database is dropped
 * while it runs (it resolves every column of every schema by name through `pg_get_serial_sequence`):
 * schema, table or column "does not exist".
 */
const INTROSPECTION_RACES = new Set(["3F000", "42P01", "42703"]);

/**
 * `migrateToLatest`, again when something else in the database vanished under the migrator (a
 * concurrent `DROP SCHEMA` of an unrelated schema: common where many test runs share a database). A
 * few quick retries; a genuine error of that kind still surfaces after them, anything else at once.
 */
export async function migrateToLatestRetryingRaces(db: AnyKysely, schema: string): Promise<void> {
	for (let attempt = 1; ; attempt++) {
		try {
			return await migrateToLatest(db, schema);
		} catch (error) {
			const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
			if (typeof code !== "string" || !INTROSPECTION_RACES.has(code) || attempt >= 8) throw error;
			await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
		}
	}
}

/**
 * The migration names a schema has applied, or `null` when it has no migration table yet. One query,
 * with no DDL and no catalog introspection.
 */
async function appliedMigrationNames(db: AnyKysely, schema: string): Promise<string[] | null> {
	try {
		const rows = await sql<{ name: string }>`SELECT name FROM ${sql.table(`${schema}.${MIGRATION_TABLE}`)}`.execute(db);
		return rows.rows.map((row) => row.name);
	} catch (error) {
		const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
		// The schema or the table does not exist yet: the migrator creates both.
		if (code === "3F000" || code === "42P01") return null;
		throw error;
	}
}

/**
 * Bring the schema up to date under kysely's migration lock.
 * @throws AuthpoolError `SCHEMA_TOO_NEW` when the schema has applied a migration this code does not know.
 */
export async function migrateToLatest(db: AnyKysely, schema: string): Promise<void> {
	const known = migrationsFor(schema);
	// Fast path: a schema that has applied exactly the migrations this version knows is up to date. The
	// migrator records a migration in the transaction that applies it, so every recorded name is complete.
	// This skips the migrator's DDL, lock and catalog introspection (which scans every schema of the
	// database) on every open but the first.
	const recorded = await appliedMigrationNames(db, schema);
	if (recorded !== null) {
		const names = Object.keys(known);
		if (recorded.length === names.length && names.every((name) => recorded.includes(name))) return;
	}
	const migrator = new Migrator({
		db,
		provider: { getMigrations: async () => known },
		migrationTableName: MIGRATION_TABLE,
		migrationLockTableName: MIGRATION_LOCK_TABLE,
		migrationTableSchema: schema,
		// A newer version's migrations are refused below with a typed error, not by the migrator.
		allowUnorderedMigrations: false,
	});
	const applied = (await migrator.getMigrations()).filter((m) => m.executedAt !== undefined).map((m) => m.name);
	const unknown = applied.filter((name) => !(name in known));
	// getMigrations lists only known names; read the table directly for names we do not know.
	const rows = await sql<{ name: string }>`SELECT name FROM ${sql.table(`${schema}.${MIGRATION_TABLE}`)}`
		.execute(db)
		.catch(() => ({ rows: [] as { name: string }[] }));
	for (const row of rows.rows) if (!(row.name in known) && !unknown.includes(row.name)) unknown.push(row.name);
	if (unknown.length > 0) {
		throw new AuthpoolError(
			"SCHEMA_TOO_NEW",
			`PostgreSQL schema ${schema} has a newer authpool schema (${unknown.join(", ")}) than this version of @authpool/store-postgres understands`,
			{ details: { schema, unknownMigrations: unknown } },
		);
	}
	const result = await migrator.migrateToLatest();
	if (result.error) throw result.error;
}
