/**
 * `createSqliteStore`: the embedded default store, safe for many processes on one file.
 *
 * Kysely owns the schema (versioned migrations) and builds the variable ledger queries; every
 * statement runs synchronously on one connection per store (better-sqlite3 on Node, bun:sqlite on
 * Bun), so a multi-statement write is one short `BEGIN IMMEDIATE` transaction with no async gap in
 * which the event loop could interleave another caller (see README "Design").
 */
import { existsSync, renameSync } from "node:fs";
import {
	type AuthCredentialStore,
	type Logger,
	type StoreCapabilities,
	silentLogger,
	systemClock,
} from "@authpool/core";
import { type CorruptRowReport, CredentialDecoder } from "./credential-record";
import { openSqliteDatabase } from "./open-database";
import { createSqliteBlockStore } from "./sqlite-block-store";
import { createSqliteCacheStore } from "./sqlite-cache-store";
import { createSqliteChangeFeed, type SqliteChangeFeed } from "./sqlite-change-feed";
import { SqliteContext } from "./sqlite-context";
import { createSqliteLeaseStore } from "./sqlite-lease-store";
import { createSqliteLedgerStore } from "./sqlite-ledger-store";
import { createSqliteRowStore } from "./sqlite-row-store";
import { createSqliteSettingsStore } from "./sqlite-settings-store";
import { parseSqliteStoreOptions, type SqliteStoreOptions } from "./sqlite-store-options";

/**
 * Before reopening a replaced or deleted file: SQLite skips the close-time checkpoint of a moved file,
 * so `-wal`/`-shm` on the path still hold the OLD file's frames, which the new connection would
 * replay onto the new file. They are renamed aside (kept for forensics), never deleted.
 */
function setStaleSidecarsAside(location: string, logger: Logger): void {
	const stamp = Date.now();
	for (const suffix of ["-wal", "-shm"]) {
		const path = location + suffix;
		if (!existsSync(path)) continue;
		const aside = `${path}.stale-${stamp}`;
		try {
			renameSync(path, aside);
			logger.warn("sqlite store moved a stale sidecar of the replaced file aside", { path, aside });
		} catch (error) {
			logger.error("sqlite store could not move a stale sidecar aside", {
				path,
				error: error instanceof Error ? error.message : String(error),
			});
		}
	}
}

/** The SQLite store: the whole contract plus diagnostics. */
export interface SqliteCredentialStore extends AuthCredentialStore {
	readonly kind: "sqlite";
	readonly leases: NonNullable<AuthCredentialStore["leases"]>;
	readonly ledger: NonNullable<AuthCredentialStore["ledger"]>;
	readonly settings: NonNullable<AuthCredentialStore["settings"]>;
	readonly changes: SqliteChangeFeed;
	/** Absolute path of the file, `":memory:"`, or the injected connection's name. */
	readonly location: string;
	/** Rows whose stored data cannot be read (skipped, with a warning, by every listing). No secrets. */
	listCorruptRows(): Promise<CorruptRowReport[]>;
}

const CAPABILITIES: StoreCapabilities = Object.freeze({
	sharedAcrossInstances: true,
	leases: true,
	usageLedger: true,
	pushChanges: true,
});

/**
 * Open (creating and migrating as needed) a SQLite credential store.
 *
 * @throws AuthpoolError `INVALID_OPTIONS` for bad options; `SCHEMA_TOO_NEW` when the file was written
 *   by a newer version (nothing is changed); `STORE_ERROR` naming the path when the file cannot be
 *   opened or stays busy after the bounded retries.
 * @example
 * ```ts
 * const store = await createSqliteStore({ path: join(dataDir, "auth.db") });
 * const storage = new AuthStorage(store, { providers: [anthropic] });
 * await storage.reload();
 * ```
 */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<SqliteCredentialStore> {
	const resolved = parseSqliteStoreOptions(options);
	const logger = resolved.logger ?? silentLogger;
	const opened = await openSqliteDatabase(resolved);
	const fileBacked = opened.owned && opened.location !== ":memory:";
	const ctx = new SqliteContext(opened.db, resolved.clock ?? systemClock, logger, opened.location, {
		synchronous: resolved.synchronous,
		busyDeadlineMs: resolved.busyDeadlineMs,
		// The same checks, pragmas and migrations as the first open; its kysely instance is not needed
		// (the ledger only compiles queries with the first one).
		...(fileBacked
			? {
					reopen: async () => {
						setStaleSidecarsAside(opened.location, logger);
						return (await openSqliteDatabase(resolved)).db;
					},
				}
			: {}),
	});
	const rows = createSqliteRowStore(ctx, new CredentialDecoder(logger));
	const changes = createSqliteChangeFeed(ctx, resolved.watchIntervalMs);
	ctx.afterWrite = () => changes.poll();

	return {
		kind: "sqlite",
		capabilities: CAPABILITIES,
		location: opened.location,
		rows,
		cache: createSqliteCacheStore(ctx),
		blocks: createSqliteBlockStore(ctx),
		changes,
		leases: createSqliteLeaseStore(ctx),
		ledger: createSqliteLedgerStore(ctx, opened.kysely),
		settings: createSqliteSettingsStore(ctx),
		listCorruptRows: () => rows.listCorruptRows(),
		async close() {
			if (ctx.closed) return;
			ctx.markClosed();
			changes.close();
			// Closed directly, not through kysely: its driver only knows the connection once it ran a query
			// (an up-to-date open never does), and an injected connection belongs to the caller.
			await ctx.settled();
			if (opened.owned && ctx.db.open) ctx.db.close();
		},
	};
}
