/**
 * `--store` URLs: `sqlite:/path/to/file.db` (or a bare path), `postgres://…` / `postgresql://…`
 * (`?schema=name` picks the schema), `broker+http://host:port` / `broker+https://…` (an authpool broker;
 * the token comes from `AUTHPOOL_BROKER_TOKEN` or `--broker-token-file`, never from the URL). The default
 * is a SQLite file in the user's data directory. `--redis` puts a Redis layer in front of a durable store.
 */
import { mkdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { AuthCredentialStore } from "@authpool/core";
import { CliError, EXIT } from "./errors";

export type StoreTarget =
	| { kind: "sqlite"; path: string; label: string }
	| { kind: "postgres"; connectionString: string; schema?: string; label: string }
	| { kind: "broker"; url: string; label: string };

/** What opening a target may need besides the URL. */
export interface OpenStoreExtras {
	/** Bearer token of a broker store. */
	brokerToken?: string;
	/** Redis layer in front of a durable (sqlite/postgres) store. */
	redis?: RedisTarget;
}

export interface RedisTarget {
	url: string;
	prefix?: string;
	label: string;
}

/** Parse `--redis` / `AUTHPOOL_REDIS_URL` (`redis://host:port[/db][?prefix=name]`, `rediss://…`). */
export function parseRedisUrl(raw: string): RedisTarget {
	let parsed: URL;
	try {
		parsed = new URL(raw);
	} catch {
		throw new CliError("--redis: not a valid URL (redis://host:6379)", EXIT.USAGE);
	}
	if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
		throw new CliError(`--redis: expected redis:// or rediss://, got "${parsed.protocol.slice(0, 20)}"`, EXIT.USAGE);
	}
	const prefix = parsed.searchParams.get("prefix") ?? undefined;
	parsed.searchParams.delete("prefix");
	const label = `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}${prefix ? ` (prefix ${prefix})` : ""}`;
	return { url: parsed.toString(), ...(prefix !== undefined ? { prefix } : {}), label };
}

/** The SQLite file used when neither `--store` nor `AUTHPOOL_STORE_URL` is set. */
export function defaultStorePath(env: Record<string, string | undefined>): string {
	const dataHome = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : undefined;
	const home = env.HOME || homedir();
	return join(dataHome ?? join(home, ".local", "share"), "authpool", "authpool.db");
}

/** Parse a store URL without opening anything. @throws CliError (usage) on an unsupported URL. */
export function parseStoreUrl(url: string | undefined, env: Record<string, string | undefined>): StoreTarget {
	const raw = url ?? env.AUTHPOOL_STORE_URL;
	if (raw === undefined || raw === "") {
		const path = defaultStorePath(env);
		return { kind: "sqlite", path, label: `sqlite:${path}` };
	}
	if (/^postgres(ql)?:\/\//i.test(raw)) {
		let parsed: URL;
		try {
			parsed = new URL(raw);
		} catch {
			throw new CliError("--store: not a valid postgres URL", EXIT.USAGE);
		}
		const schema = parsed.searchParams.get("schema") ?? undefined;
		parsed.searchParams.delete("schema");
		const label = `postgres://${parsed.host}${parsed.pathname}${schema ? ` (schema ${schema})` : ""}`;
		return { kind: "postgres", connectionString: parsed.toString(), ...(schema ? { schema } : {}), label };
	}
	if (/^broker\+https?:\/\//i.test(raw)) {
		let parsed: URL;
		try {
			parsed = new URL(raw.slice("broker+".length));
		} catch {
			throw new CliError("--store: not a valid broker URL (broker+https://host:port)", EXIT.USAGE);
		}
		if (parsed.username || parsed.password) {
			throw new CliError(
				"--store: no credentials in a broker URL; set AUTHPOOL_BROKER_TOKEN or --broker-token-file",
				EXIT.USAGE,
			);
		}
		if (parsed.search || parsed.hash)
			throw new CliError("--store: a broker URL takes no query or fragment", EXIT.USAGE);
		const url = `${parsed.origin}${parsed.pathname.replace(/\/+$/, "")}`;
		return { kind: "broker", url, label: `broker+${url}` };
	}
	let path: string;
	if (/^sqlite:/i.test(raw)) {
		path = raw.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
		if (path === "") throw new CliError("--store: sqlite: needs a file path (sqlite:/path/to/file.db)", EXIT.USAGE);
	} else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
		const scheme = raw.slice(0, raw.indexOf(":"));
		throw new CliError(
			`--store: unsupported scheme "${scheme}" (use sqlite:/path, postgres://… or broker+https://…)`,
			EXIT.USAGE,
		);
	} else {
		path = raw;
	}
	const absolute = resolve(path);
	return { kind: "sqlite", path: absolute, label: `sqlite:${absolute}` };
}

/** Open the store a target names. @throws CliError (store) when it cannot be opened. */
export async function openStore(target: StoreTarget, extras: OpenStoreExtras = {}): Promise<AuthCredentialStore> {
	if (target.kind === "broker" && extras.redis) {
		throw new CliError("--redis wraps a durable store (sqlite or postgres), not a broker", EXIT.USAGE);
	}
	if (target.kind === "broker" && !extras.brokerToken) {
		throw new CliError("broker store: set AUTHPOOL_BROKER_TOKEN or pass --broker-token-file", EXIT.USAGE);
	}
	try {
		// Drivers load only when used: a command that fails validation starts fast.
		if (target.kind === "broker") {
			const { createRemoteStore } = await import("@authpool/broker-client");
			return await createRemoteStore({ url: target.url, token: extras.brokerToken ?? "" });
		}
		let durable: AuthCredentialStore;
		if (target.kind === "sqlite") {
			ensureDirectory(dirname(target.path));
			const { createSqliteStore } = await import("@authpool/store-sqlite");
			durable = await createSqliteStore({ path: target.path, openAttempts: 3 });
		} else {
			const { createPostgresStore } = await import("@authpool/store-postgres");
			durable = await createPostgresStore(
				{ connectionString: target.connectionString },
				{ ...(target.schema ? { schema: target.schema } : {}), retryDeadlineMs: 1_500, statementTimeoutMs: 5_000 },
			);
		}
		if (!extras.redis) return durable;
		try {
			const { withRedisCache } = await import("@authpool/store-redis-cache");
			return withRedisCache(
				durable,
				{ url: extras.redis.url },
				extras.redis.prefix !== undefined ? { prefix: extras.redis.prefix } : {},
			);
		} catch (error) {
			await durable.close().catch(() => {});
			throw error;
		}
	} catch (error) {
		const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
		throw new CliError(`cannot open store ${target.label}: ${reason}`, EXIT.STORE);
	}
}

/** The store's directory exists (created 0700 when missing) and is a directory; fails fast otherwise. */
function ensureDirectory(dir: string): void {
	// One level at a time: a recursive mkdir can spin forever on some pseudo file systems (/proc).
	const missing: string[] = [];
	let current = dir;
	for (;;) {
		try {
			if (!statSync(current).isDirectory()) throw new Error(`${current} is not a directory`);
			break;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
				if (error instanceof Error && !("code" in error)) throw error;
				throw new Error(`cannot use directory ${current} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
			}
			missing.push(current);
			const parent = dirname(current);
			if (parent === current) break;
			current = parent;
		}
	}
	for (const path of missing.reverse()) {
		try {
			mkdirSync(path, { mode: 0o700 });
		} catch (error) {
			const code = (error as NodeJS.ErrnoException).code;
			if (code !== "EEXIST") throw new Error(`cannot create directory ${path} (${code ?? "error"})`);
		}
	}
}
