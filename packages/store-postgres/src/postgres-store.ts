/**
 * `createPostgresStore`: the store for fleets, one schema that many hosts share. Raw SQL through
 * Kysely (so a caller's Kysely works as the connection), versioned Kysely migrations under the
 * migrator's advisory lock, row triggers that bump one revision row and NOTIFY in the same
 * transaction, and a dedicated LISTEN connection that keeps `revision()` current without a round trip.
 */
import { type AuthCredentialStore, type StoreCapabilities, silentLogger, systemClock } from "@authpool/core";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { createChangeFeed, joinLocalPeers, type PostgresChangeFeed } from "./change-feed";
import { migrateToLatestRetryingRaces } from "./migrations";
import { type PostgresConnection, type PostgresStoreOptions, parsePostgresOptions } from "./options";
import {
	createPostgresBlockStore,
	createPostgresCacheStore,
	createPostgresLeaseStore,
	createPostgresLedgerStore,
	createPostgresSettingsStore,
} from "./parts";
import { type AnyKysely, PgContext } from "./pg-context";
import { createPostgresRowStore } from "./row-store";

/** The PostgreSQL store: the whole contract. */
export interface PostgresCredentialStore extends AuthCredentialStore {
	readonly kind: "postgres";
	readonly leases: NonNullable<AuthCredentialStore["leases"]>;
	readonly ledger: NonNullable<AuthCredentialStore["ledger"]>;
	readonly settings: NonNullable<AuthCredentialStore["settings"]>;
	readonly changes: PostgresChangeFeed;
	/** The schema holding the store's tables. */
	readonly schema: string;
}

const CAPABILITIES: StoreCapabilities = Object.freeze({
	sharedAcrossInstances: true,
	leases: true,
	usageLedger: true,
	pushChanges: true,
});

/** `application_name` of the listener connection (visible in `pg_stat_activity`). */
export const LISTENER_APPLICATION_NAME = "authpool-listener";

interface Opened {
	db: AnyKysely;
	/** The pool the store created and must end on close; `undefined` for a caller's pool or Kysely. */
	ownedPool: pg.Pool | undefined;
	makeListener: (() => pg.Client) | undefined;
}

function open(connection: PostgresConnection, timeoutMs: number): Opened {
	if ("db" in connection) return { db: connection.db, ownedPool: undefined, makeListener: undefined };
	const listenerConfig = (base: pg.ClientConfig): pg.ClientConfig => ({
		...base,
		application_name: LISTENER_APPLICATION_NAME,
		connectionTimeoutMillis: base.connectionTimeoutMillis ?? timeoutMs,
		keepAlive: true,
	});
	if ("pool" in connection) {
		const base = connection.pool.options as pg.ClientConfig;
		return {
			db: new Kysely({ dialect: new PostgresDialect({ pool: connection.pool }) }),
			ownedPool: undefined,
			makeListener: () => new pg.Client(listenerConfig(base)),
		};
	}
	const base: pg.ClientConfig = {
		connectionString: connection.connectionString,
		// Never hang: connecting, a statement on the server, and the client-side wait are all bounded.
		connectionTimeoutMillis: timeoutMs,
		statement_timeout: timeoutMs,
		query_timeout: timeoutMs + 1_000,
	};
	const pool = new pg.Pool({ ...base, max: 10, idleTimeoutMillis: 30_000 });
	// An idle client losing its connection emits on the pool; unhandled, that would crash the process.
	pool.on("error", () => undefined);
	return {
		db: new Kysely({ dialect: new PostgresDialect({ pool }) }),
		ownedPool: pool,
		makeListener: () => new pg.Client(listenerConfig(base)),
	};
}

/**
 * Open (creating the schema and migrating as needed) a PostgreSQL credential store.
 *
 * @throws AuthpoolError `INVALID_OPTIONS` for a bad connection or options; `SCHEMA_TOO_NEW` when the
 *   schema was migrated by a newer version; `STORE_ERROR` when the server stays unreachable past
 *   `retryDeadlineMs` (the message carries the SQLSTATE or socket error, never parameters).
 * @example
 * ```ts
 * const store = await createPostgresStore({ connectionString: process.env.DATABASE_URL! });
 * const storage = new AuthStorage(store, { providers: [anthropic] });
 * await storage.reload();
 * ```
 */
export async function createPostgresStore(
	connection: PostgresConnection,
	options?: PostgresStoreOptions,
): Promise<PostgresCredentialStore> {
	const resolved = parsePostgresOptions(connection, options);
	const logger = resolved.logger ?? silentLogger;
	const opened = open(resolved.connection, resolved.statementTimeoutMs);
	const ctx = new PgContext(
		opened.db,
		resolved.schema,
		resolved.clock ?? systemClock,
		logger,
		resolved.retryDeadlineMs,
	);

	let initial: { revision: string; token: string };
	try {
		initial = await ctx.withRetry("open", async () => {
			await migrateToLatestRetryingRaces(opened.db, resolved.schema);
			const [row] = await ctx.query<{ revision: string; token: string }>(
				opened.db,
				`SELECT revision, token FROM ${ctx.t("auth_change_revision")} WHERE id = 1`,
			);
			return row!;
		});
	} catch (error) {
		await opened.ownedPool?.end().catch(() => undefined);
		throw ctx.fail("open", error);
	}

	const control = createChangeFeed(ctx, Number(initial.revision), opened.makeListener, resolved.pollIntervalMs);
	const peers = resolved.localPeers ? joinLocalPeers(initial.token, control.observe) : undefined;
	ctx.afterWrite = (revision) => {
		control.observe(revision);
		peers?.publish(revision);
	};
	try {
		await control.start();
	} catch (error) {
		await control.close();
		peers?.leave();
		await opened.ownedPool?.end().catch(() => undefined);
		throw ctx.fail("open", error);
	}

	return {
		kind: "postgres",
		capabilities: CAPABILITIES,
		schema: resolved.schema,
		rows: createPostgresRowStore(ctx),
		cache: createPostgresCacheStore(ctx),
		blocks: createPostgresBlockStore(ctx),
		changes: control.feed,
		leases: createPostgresLeaseStore(ctx),
		ledger: createPostgresLedgerStore(ctx),
		settings: createPostgresSettingsStore(ctx),
		async close() {
			if (ctx.closed) return;
			ctx.markClosed();
			peers?.leave();
			await control.close();
			// Only a pool this store created: a caller's pool or Kysely stays theirs.
			if (opened.ownedPool) await opened.db.destroy().catch(() => undefined);
		},
	};
}
