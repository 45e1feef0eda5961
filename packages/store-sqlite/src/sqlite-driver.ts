/**
 * Picks the SQLite library by runtime: Bun's built-in `bun:sqlite` on Bun, better-sqlite3 on Node.
 * Both are loaded on first use, never at import: Bun cannot load better-sqlite3's native addon, and
 * a Bun install need not have it; Node has no `bun:sqlite`.
 */
import { createRequire } from "node:module";
import { AuthpoolError } from "@authpool/core";
import { BunSqliteConnection, type BunSqliteDatabaseConstructor, isBunSqliteDatabase } from "./bun-sqlite-connection";
import type { SqliteConnection, SqliteDriverName } from "./sqlite-connection";

/** better-sqlite3's `Database` constructor (only the options the store passes). */
type BetterSqlite3Constructor = new (filename: string, options: { timeout: number }) => SqliteConnection;

/** The library this runtime uses. */
export function runtimeSqliteDriver(): SqliteDriverName {
	return typeof process.versions.bun === "string" ? "bun:sqlite" : "better-sqlite3";
}

// A variable, not a literal: bundlers and Node's loader must not try to resolve it ahead of time.
const BUN_SQLITE_MODULE = "bun:sqlite";

let betterSqlite3: BetterSqlite3Constructor | undefined;
let bunSqlite: BunSqliteDatabaseConstructor | undefined;

function missingDriver(reason: string, cause: unknown): AuthpoolError {
	return new AuthpoolError(
		"STORE_ERROR",
		`@authpool/store-sqlite needs better-sqlite3 on Node (${reason}): install it next to the store with \`npm i better-sqlite3\` (on Bun the built-in bun:sqlite is used instead)`,
		{ cause, details: { driver: "better-sqlite3", runtime: `node ${process.versions.node}` } },
	);
}

/**
 * better-sqlite3's constructor, required on first use. `requireFrom` resolves it (tests pass one
 * rooted where it is not installed).
 *
 * @throws AuthpoolError `STORE_ERROR` saying what to install when it is missing or does not load.
 */
export function loadBetterSqlite3(requireFrom?: NodeJS.Require): BetterSqlite3Constructor {
	if (betterSqlite3 && !requireFrom) return betterSqlite3;
	let loaded: unknown;
	try {
		loaded = (requireFrom ?? createRequire(import.meta.url))("better-sqlite3");
	} catch (error) {
		const code = (error as NodeJS.ErrnoException | null)?.code;
		const message = error instanceof Error ? error.message : "";
		if (code === "MODULE_NOT_FOUND" && message.includes("'better-sqlite3'")) {
			throw missingDriver("it is not installed", error);
		}
		// Typically the native addon was built for another Node version: the first line says which.
		throw missingDriver(`it is installed but does not load: ${message.split("\n")[0]}`, error);
	}
	const Database = ((loaded as { default?: unknown }).default ?? loaded) as BetterSqlite3Constructor;
	if (!requireFrom) betterSqlite3 = Database;
	return Database;
}

async function loadBunSqlite(): Promise<BunSqliteDatabaseConstructor> {
	if (bunSqlite) return bunSqlite;
	const module = (await import(BUN_SQLITE_MODULE)) as { Database: BunSqliteDatabaseConstructor };
	bunSqlite = module.Database;
	return bunSqlite;
}

/**
 * Open `location` with this runtime's library. `busyTimeoutMs` is also installed as the first
 * pragma by the caller; better-sqlite3 takes it at construction too.
 *
 * @throws AuthpoolError `STORE_ERROR` when better-sqlite3 is needed but missing or broken.
 */
export async function openSqliteConnection(location: string, busyTimeoutMs: number): Promise<SqliteConnection> {
	if (runtimeSqliteDriver() === "bun:sqlite") {
		const Database = await loadBunSqlite();
		// `strict`: named parameters bind without their `@` prefix, as in better-sqlite3.
		return new BunSqliteConnection(new Database(location, { create: true, readwrite: true, strict: true }));
	}
	const Database = loadBetterSqlite3();
	return new Database(location, { timeout: busyTimeoutMs });
}

/** An injected connection in the store's shape: a better-sqlite3 one as is, a `bun:sqlite` one adapted. */
export function adoptSqliteConnection(database: unknown): SqliteConnection {
	return isBunSqliteDatabase(database) ? new BunSqliteConnection(database) : (database as SqliteConnection);
}
