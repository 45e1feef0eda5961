/** Opening the pool a command works on: store URL → store (+ encryption at rest) → AuthStorage. */
import { readFileSync } from "node:fs";
import {
	type AuthCredentialStore,
	AuthStorage,
	type EncryptedCredentialStore,
	loadEncryptionKeyFile,
	type ProviderPlugin,
	parseEncryptionKeys,
	pluginSecretFields,
	withEncryption,
} from "@authpool/core";
import { CliError, EXIT, toCliError } from "./errors";
import { BUILTIN_PROVIDER_IDS } from "./plugins";
import { type OpenStoreExtras, openStore, parseRedisUrl, parseStoreUrl, type StoreTarget } from "./store-url";

export interface GlobalOptions {
	store?: string;
	json?: boolean;
	showSecrets?: boolean;
	keyFile?: string;
	brokerTokenFile?: string;
	redis?: string;
}

/** The broker token: `--broker-token-file` (first line) or `AUTHPOOL_BROKER_TOKEN`. */
export function loadBrokerToken(options: GlobalOptions, env: Record<string, string | undefined>): string | undefined {
	if (options.brokerTokenFile) {
		let text: string;
		try {
			text = readFileSync(options.brokerTokenFile, "utf8");
		} catch (error) {
			const code = (error as NodeJS.ErrnoException).code;
			throw new CliError(
				`--broker-token-file: cannot read ${options.brokerTokenFile} (${code ?? "error"})`,
				code === "ENOENT" ? EXIT.NOT_FOUND : EXIT.USAGE,
			);
		}
		const token = text.split("\n")[0]?.trim();
		if (!token) throw new CliError(`--broker-token-file: ${options.brokerTokenFile} is empty`, EXIT.USAGE);
		return token;
	}
	return env.AUTHPOOL_BROKER_TOKEN?.trim() || undefined;
}

/** The store a command opens, with what it needs: URL, broker token, Redis layer. Validates, opens nothing. */
export function storeSpec(options: GlobalOptions, env: Record<string, string | undefined>) {
	const target = parseStoreUrl(options.store, env);
	const redisUrl = options.redis ?? (env.AUTHPOOL_REDIS_URL || undefined);
	const redis = redisUrl !== undefined ? parseRedisUrl(redisUrl) : undefined;
	const brokerToken = target.kind === "broker" ? loadBrokerToken(options, env) : undefined;
	if (target.kind === "broker" && redis) {
		throw new CliError("--redis wraps a durable store (sqlite or postgres), not a broker", EXIT.USAGE);
	}
	if (target.kind === "broker" && !brokerToken) {
		throw new CliError("broker store: set AUTHPOOL_BROKER_TOKEN or pass --broker-token-file", EXIT.USAGE);
	}
	const extras: OpenStoreExtras = { ...(brokerToken ? { brokerToken } : {}), ...(redis ? { redis } : {}) };
	const label = redis ? `${target.label} + ${redis.label}` : target.label;
	return { target: { ...target, label }, extras };
}

export interface EncryptionKeySet {
	keys: Map<string, Buffer>;
	activeKeyId: string;
}

/**
 * Keys from `--key-file` or `AUTHPOOL_ENCRYPTION_KEYS` (`id:base64,…`); the first listed is the active
 * one unless `AUTHPOOL_ENCRYPTION_ACTIVE_KEY` names another. `undefined` when neither is set.
 */
export async function loadKeys(
	options: GlobalOptions,
	env: Record<string, string | undefined>,
): Promise<EncryptionKeySet | undefined> {
	let keys: Map<string, Buffer>;
	try {
		if (options.keyFile) keys = await loadEncryptionKeyFile(options.keyFile);
		else if (env.AUTHPOOL_ENCRYPTION_KEYS) keys = parseEncryptionKeys(env.AUTHPOOL_ENCRYPTION_KEYS);
		else return undefined;
	} catch (error) {
		const e = toCliError(error);
		throw new CliError(`encryption keys: ${e.message}`, e.exitCode === EXIT.NOT_FOUND ? EXIT.NOT_FOUND : EXIT.USAGE);
	}
	const first = keys.keys().next().value;
	const activeKeyId = env.AUTHPOOL_ENCRYPTION_ACTIVE_KEY || first;
	if (activeKeyId === undefined) throw new CliError("encryption keys: no key given", EXIT.USAGE);
	if (!keys.has(activeKeyId)) {
		throw new CliError(`encryption keys: active key "${activeKeyId}" is not in the key set`, EXIT.USAGE);
	}
	return { keys, activeKeyId };
}

export interface OpenPool {
	storage: AuthStorage;
	store: AuthCredentialStore;
	/** Set when encryption keys were given. */
	encrypted?: EncryptedCredentialStore;
	target: StoreTarget;
	plugins: ProviderPlugin[];
	close(): Promise<void>;
}

/** Open the store (validating the URL and keys first) and load the pool. */
export async function openPool(options: GlobalOptions, env: Record<string, string | undefined>): Promise<OpenPool> {
	const { target, extras } = storeSpec(options, env);
	const keys = await loadKeys(options, env);
	const { builtinPlugins } = await import("./plugins-load");
	const plugins = builtinPlugins(env);
	const raw = await openStore(target, extras);
	let store: AuthCredentialStore = raw;
	let encrypted: EncryptedCredentialStore | undefined;
	if (keys) {
		encrypted = withEncryption(raw, { ...keys, secretFields: pluginSecretFields(plugins) });
		store = encrypted;
	}
	const storage = new AuthStorage(store, { providers: plugins, env: { ...env }, sourceLabel: target.label });
	try {
		await storage.reload();
	} catch (error) {
		await storage.close().catch(() => {});
		throw toCliError(error);
	}
	return {
		storage,
		store,
		...(encrypted ? { encrypted } : {}),
		target,
		plugins,
		close: () => storage.close(),
	};
}

/** `true` when a plugin with this id is built in. */
export function knownProvider(id: string): boolean {
	return (BUILTIN_PROVIDER_IDS as readonly string[]).includes(id);
}

/** @throws CliError (usage) naming the known providers. */
export function requireProvider(id: string, _env?: Record<string, string | undefined>): void {
	if (knownProvider(id)) return;
	throw new CliError(`unknown provider "${id}" (known: ${BUILTIN_PROVIDER_IDS.join(", ")})`, EXIT.USAGE);
}
