/**
 * Runs the kysely migrations once per open, serialised across processes.
 *
 * The kysely `Migrator` takes no lock on SQLite (its adapter's lock is a no-op, because it assumes
 * one connection), and its bookkeeping runs outside its transaction. Several processes opening a
 * fresh file at once would race. So the whole run (bookkeeping + every pending migration) executes
 * inside one `BEGIN IMMEDIATE` on the raw connection, with kysely's own transactions disabled: one
 * migrator at a time, all-or-nothing.
 */
import { AuthpoolError } from "@authpool/core";
import { type Kysely, type Migration, type MigrationProvider, Migrator } from "kysely";
import { migrations as knownMigrations, MIGRATION_LOCK_TABLE, MIGRATION_TABLE } from "./migrations";
import type { SqliteSchema } from "./schema";
import type { SqliteConnection } from "./sqlite-connection";

function appliedMigrationNames(db: SqliteConnection): string[] {
	const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?").get(MIGRATION_TABLE);
	if (!table) return [];
	return db.prepare(`SELECT name FROM ${MIGRATION_TABLE} ORDER BY name`).pluck().all() as string[];
}

/** Throws `SCHEMA_TOO_NEW` when the database has applied a migration this code does not know. */
function assertNotNewer(applied: string[], known: Record<string, unknown>, location: string): void {
	const unknown = applied.filter((name) => !(name in known));
	if (unknown.length > 0) {
		throw new AuthpoolError(
			"SCHEMA_TOO_NEW",
			`SQLite credential store at ${location} has a newer schema (${unknown.join(", ")}) than this version of @authpool/store-sqlite understands; upgrade the package instead of opening it with an older one`,
			{ details: { path: location, unknownMigrations: unknown } },
		);
	}
}

/**
 * Migrations of one file within this process, chained. The migrator holds the write lock across
 * awaits; a second connection of the same process asking for it would block the event loop in
 * SQLite's busy handler and so starve the holder until the busy timeout. Across processes the
 * busy handler is the right tool: the holder runs on its own.
 */
const migrationsInProcess = new Map<string, Promise<unknown>>();

function serialised<T>(location: string, run: () => Promise<T>): Promise<T> {
	const previous = migrationsInProcess.get(location) ?? Promise.resolve();
	const next = previous.then(run, run);
	const settled = next.then(
		() => undefined,
		() => undefined,
	);
	migrationsInProcess.set(location, settled);
	void settled.then(() => {
		if (migrationsInProcess.get(location) === settled) migrationsInProcess.delete(location);
	});
	return next;
}

/**
 * Bring the schema up to date. Nothing is written when it already is, or when it is newer than
 * this code (`SCHEMA_TOO_NEW`).
 */
export async function migrateToLatest(
	db: SqliteConnection,
	kysely: Kysely<SqliteSchema>,
	location: string,
	migrationSet: Readonly<Record<string, Migration>> = knownMigrations,
): Promise<void> {
	const pendingIn = (applied: string[]) => Object.keys(migrationSet).filter((name) => !applied.includes(name));

	// Read-only fast path: the common open of an up-to-date file takes no write lock.
	const before = appliedMigrationNames(db);
	assertNotNewer(before, migrationSet, location);
	if (pendingIn(before).length === 0) return;

	await serialised(location, () => migratePending(db, kysely, location, migrationSet));
}

async function migratePending(
	db: SqliteConnection,
	kysely: Kysely<SqliteSchema>,
	location: string,
	migrationSet: Readonly<Record<string, Migration>>,
): Promise<void> {
	const pendingIn = (applied: string[]) => Object.keys(migrationSet).filter((name) => !applied.includes(name));
	db.exec("BEGIN IMMEDIATE");
	try {
		// Re-check under the write lock: a peer may have migrated (or a newer version may have) meanwhile.
		const applied = appliedMigrationNames(db);
		assertNotNewer(applied, migrationSet, location);
		if (pendingIn(applied).length > 0) {
			const provider: MigrationProvider = { getMigrations: async () => ({ ...migrationSet }) };
			const migrator = new Migrator({
				db: kysely,
				provider,
				migrationTableName: MIGRATION_TABLE,
				migrationLockTableName: MIGRATION_LOCK_TABLE,
				disableTransactions: true,
			});
			const { error } = await migrator.migrateToLatest();
			if (error) throw error;
		}
		db.exec("COMMIT");
	} catch (error) {
		if (db.inTransaction) db.exec("ROLLBACK");
		throw error;
	}
}
