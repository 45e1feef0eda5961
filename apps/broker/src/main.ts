/** The `authpool-broker` process: everything configured by environment variables. */
import { readFile } from "node:fs/promises";
import { type BrokerHandler, type BrokerTokenSpec, createBrokerHandler } from "@authpool/broker-server";
import { type AuthCredentialStore, AuthpoolError, AuthStorage, type Logger, type ProviderPlugin } from "@authpool/core";
import { createPostgresStore } from "@authpool/store-postgres";
import { withRedisCache } from "@authpool/store-redis-cache";
import { createSqliteStore } from "@authpool/store-sqlite";
import { anthropic } from "@authpool/usage-anthropic";
import { githubCopilot } from "@authpool/usage-github-copilot";
import { googleAntigravity } from "@authpool/usage-google-antigravity";
import { googleGeminiCli } from "@authpool/usage-google-gemini-cli";
import { kimiCode } from "@authpool/usage-kimi-code";
import { ollama, ollamaCloud } from "@authpool/usage-ollama";
import { openaiCodex } from "@authpool/usage-openai-codex";
import { opencodeGo } from "@authpool/usage-opencode-go";
import { zai } from "@authpool/usage-zai";
import { parseAdminTokenHashes } from "./admin-auth";
import { type BrokerApp, type BrokerAppOptions, startBrokerApp } from "./broker-app";

/** Every provider plugin this app ships with. */
export const BUILT_IN_PROVIDERS: readonly ProviderPlugin[] = [
	anthropic,
	openaiCodex,
	googleGeminiCli,
	googleAntigravity,
	githubCopilot,
	kimiCode,
	zai,
	ollama,
	ollamaCloud,
	opencodeGo,
];

export interface BrokerAppConfig {
	storeUrl: string;
	/** Postgres schema of the store tables. */
	storeSchema?: string;
	/** Redis in front of the durable store (`withRedisCache`): shared cache, pins, block mirror, pub/sub. */
	redisUrl?: string;
	/** Key prefix in Redis (replicas of one pool share it). */
	redisPrefix?: string;
	bind: string;
	adminTokenHashes: string[];
	/** sha256 hex of each broker client token (`/v1/snapshot`, refresh, block, usage). */
	clientTokenHashes: string[];
	/** sha256 hex of each metrics token (`GET /metrics`). */
	metricsTokenHashes: string[];
	tls?: { cert: Buffer; key: Buffer };
	providers: readonly ProviderPlugin[];
}

/**
 * Read the configuration from the environment (see the README's table).
 * @throws AuthpoolError `INVALID_OPTIONS` naming the variable at fault (never a value).
 */
export async function loadConfig(env: Record<string, string | undefined>): Promise<BrokerAppConfig> {
	const storeUrl = env.AUTHPOOL_STORE_URL?.trim() || "./authpool.db";
	const bind = env.AUTHPOOL_BIND?.trim() || "127.0.0.1:8765";
	let hashSpec = env.AUTHPOOL_ADMIN_TOKEN_HASHES ?? "";
	if (env.AUTHPOOL_ADMIN_TOKEN_FILE) {
		try {
			hashSpec = `${hashSpec}\n${await readFile(env.AUTHPOOL_ADMIN_TOKEN_FILE, "utf8")}`;
		} catch (error) {
			throw new AuthpoolError("INVALID_OPTIONS", "AUTHPOOL_ADMIN_TOKEN_FILE cannot be read", { cause: error });
		}
	}
	const adminTokenHashes = parseAdminTokenHashes(hashSpec);
	const clientTokenHashes = await readHashes(
		env,
		"AUTHPOOL_BROKER_CLIENT_TOKEN_HASHES",
		"AUTHPOOL_BROKER_CLIENT_TOKEN_FILE",
	);
	const metricsTokenHashes = await readHashes(
		env,
		"AUTHPOOL_BROKER_METRICS_TOKEN_HASHES",
		"AUTHPOOL_BROKER_METRICS_TOKEN_FILE",
	);
	const certFile = env.AUTHPOOL_TLS_CERT_FILE;
	const keyFile = env.AUTHPOOL_TLS_KEY_FILE;
	if (Boolean(certFile) !== Boolean(keyFile)) {
		throw new AuthpoolError("INVALID_OPTIONS", "set both AUTHPOOL_TLS_CERT_FILE and AUTHPOOL_TLS_KEY_FILE, or neither");
	}
	let tls: BrokerAppConfig["tls"];
	if (certFile && keyFile) {
		try {
			tls = { cert: await readFile(certFile), key: await readFile(keyFile) };
		} catch (error) {
			throw new AuthpoolError("INVALID_OPTIONS", "TLS certificate or key file cannot be read", { cause: error });
		}
	}
	const wanted = env.AUTHPOOL_PROVIDERS?.split(",")
		.map((id) => id.trim())
		.filter(Boolean);
	const providers = wanted ? BUILT_IN_PROVIDERS.filter((plugin) => wanted.includes(plugin.id)) : BUILT_IN_PROVIDERS;
	const unknown = wanted?.filter((id) => !BUILT_IN_PROVIDERS.some((plugin) => plugin.id === id)) ?? [];
	if (unknown.length > 0) {
		throw new AuthpoolError("INVALID_OPTIONS", `AUTHPOOL_PROVIDERS names unknown providers: ${unknown.join(", ")}`);
	}
	const storeSchema = env.AUTHPOOL_STORE_SCHEMA?.trim() || undefined;
	const redisUrl = env.AUTHPOOL_REDIS_URL?.trim() || undefined;
	if (redisUrl && !/^rediss?:\/\//i.test(redisUrl)) {
		throw new AuthpoolError("INVALID_OPTIONS", "AUTHPOOL_REDIS_URL must be a redis:// or rediss:// URL");
	}
	const redisPrefix = env.AUTHPOOL_REDIS_PREFIX?.trim() || undefined;
	return {
		storeUrl,
		storeSchema,
		...(redisUrl ? { redisUrl } : {}),
		...(redisPrefix ? { redisPrefix } : {}),
		bind,
		adminTokenHashes,
		clientTokenHashes,
		metricsTokenHashes,
		tls,
		providers,
	};
}

/** Hashes from `<name>` plus the file named by `<fileName>`; errors name the variable, never a value. */
async function readHashes(env: Record<string, string | undefined>, name: string, fileName: string): Promise<string[]> {
	let spec = env[name] ?? "";
	const file = env[fileName];
	if (file) {
		try {
			spec = `${spec}\n${await readFile(file, "utf8")}`;
		} catch (error) {
			throw new AuthpoolError("INVALID_OPTIONS", `${fileName} cannot be read`, { cause: error });
		}
	}
	try {
		return parseAdminTokenHashes(spec);
	} catch (error) {
		const detail = error instanceof Error ? error.message.replace(/^admin token /, "") : "malformed";
		throw new AuthpoolError("INVALID_OPTIONS", `${name} / ${fileName}: ${detail}`);
	}
}

/** The broker-server token table of the app's hashes (sha256 hex) by scope. */
export function brokerTokens(
	config: Pick<BrokerAppConfig, "adminTokenHashes" | "clientTokenHashes" | "metricsTokenHashes">,
) {
	const specs = (hashes: readonly string[], scope: string): BrokerTokenSpec[] =>
		[...new Set(hashes)].map((hash, index) => ({ hash: `sha256:${hash}`, name: `${scope}-${index + 1}` }));
	return {
		admin: specs(config.adminTokenHashes, "admin"),
		client: specs(config.clientTokenHashes, "client"),
		metrics: specs(config.metricsTokenHashes, "metrics"),
	};
}

/**
 * `postgres://` / `postgresql://` → Postgres; `sqlite:<path>`, `file:<path>` or a plain path → SQLite;
 * with `redisUrl`, wrapped in the Redis layer (`withRedisCache`).
 */
export async function openStore(
	storeUrl: string,
	options: { logger?: Logger; schema?: string; redisUrl?: string; redisPrefix?: string } = {},
): Promise<AuthCredentialStore> {
	const durable = await openDurableStore(storeUrl, options);
	if (!options.redisUrl) return durable;
	try {
		return withRedisCache(
			durable,
			{ url: options.redisUrl },
			{
				...(options.logger ? { logger: options.logger } : {}),
				...(options.redisPrefix ? { prefix: options.redisPrefix } : {}),
			},
		);
	} catch (error) {
		await durable.close();
		throw error;
	}
}

async function openDurableStore(
	storeUrl: string,
	options: { logger?: Logger; schema?: string },
): Promise<AuthCredentialStore> {
	if (/^postgres(ql)?:\/\//i.test(storeUrl)) {
		return createPostgresStore({ connectionString: storeUrl }, { logger: options.logger, schema: options.schema });
	}
	if (options.schema)
		throw new AuthpoolError("INVALID_OPTIONS", "AUTHPOOL_STORE_SCHEMA applies to Postgres store URLs only");
	const logger = options.logger;
	const path = storeUrl.replace(/^(sqlite|file):(\/\/)?/i, "");
	return createSqliteStore({ path, logger });
}

/** A one-line-JSON logger on stderr (fields are already free of secrets). */
export function createStderrLogger(): Logger {
	const write = (level: string) => (message: string, fields?: Record<string, unknown>) => {
		process.stderr.write(`${JSON.stringify({ level, message, ...fields, at: new Date().toISOString() })}\n`);
	};
	return { debug: () => {}, info: write("info"), warn: write("warn"), error: write("error") };
}

/** Extra options of `main`: any app option, and the provider plugins (default: the built-in ones). */
export type MainOptions = Partial<BrokerAppOptions> & { providers?: readonly ProviderPlugin[] };

/**
 * Start the broker from the environment: open the store, load the pool, serve; stop cleanly on SIGINT/SIGTERM.
 * `extra` lets a deployment add options (for example `mountBroker`).
 */
export async function main(
	env: Record<string, string | undefined> = process.env,
	extra: MainOptions = {},
): Promise<{ app: BrokerApp; storage: AuthStorage; stop(): Promise<void> }> {
	const { providers, ...appExtra } = extra;
	const logger = extra.logger ?? createStderrLogger();
	const config = await loadConfig(env);
	const store = await openStore(config.storeUrl, {
		logger,
		schema: config.storeSchema,
		...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
		...(config.redisPrefix ? { redisPrefix: config.redisPrefix } : {}),
	});
	let storage: AuthStorage;
	try {
		// A plain copy: `process.env` is an exotic object that option validation does not take as a record.
		storage = new AuthStorage(store, { providers: providers ?? config.providers, logger, env: { ...env } });
	} catch (error) {
		await store.close();
		throw error;
	}
	let broker: BrokerHandler | undefined;
	// The broker protocol on the dashboard's port, unless the caller mounts its own.
	const mountBroker: BrokerAppOptions["mountBroker"] =
		extra.mountBroker ??
		(async (context) => {
			broker = await createBrokerHandler({
				storage: context.storage,
				logger: context.logger,
				tokens: brokerTokens(config),
				env: {},
			});
			return broker.handle;
		});
	let app: BrokerApp;
	try {
		await storage.reload();
		app = await startBrokerApp({
			...appExtra,
			storage,
			store,
			bind: config.bind,
			adminTokenHashes: config.adminTokenHashes,
			tls: config.tls,
			logger,
			mountBroker,
		});
	} catch (error) {
		await broker?.close();
		await storage.close();
		throw error;
	}
	let stopping: Promise<void> | undefined;
	const stop = () => {
		stopping ??= (async () => {
			await broker?.close();
			await app.close();
			await storage.close();
		})();
		return stopping;
	};
	return { app, storage, stop };
}
