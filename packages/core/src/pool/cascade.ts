/**
 * Auth precedence (docs/selection.md "Precedence"): runtime override → config override → stored OAuth (refreshed) →
 * environment variable → stored API key → fallback resolver. `origin`/`describe` report the same
 * order from memory with no side effects.
 */
import { execSync } from "node:child_process";
import { envApiKeyNames, type ProviderRegistry } from "../plugin";
import { errorMessage } from "../refresh/classify";
import type { CredentialSelector, SelectionOptions } from "../selection/select";
import type { Clock, Env, Logger, StoredAuthCredential } from "../types";
import { redactString } from "../util/redact";
import type { CredentialPool } from "./pool";

/** Which leg of the cascade supplies a provider's key. */
export type CredentialOriginKind = "runtime" | "config" | "oauth" | "env" | "api_key" | "fallback";

/** Structured provenance of a provider's auth (a machine tag; see `describeCredentialSource` for prose). */
export interface CredentialOrigin {
	kind: CredentialOriginKind;
	/** The env var when `kind === "env"`. */
	envVar?: string;
}

/** Turns a configured value (API key, header value) into the actual value. */
export type ConfigValueResolver = (value: string) => string | undefined | Promise<string | undefined>;

/** Last-resort key source (e.g. custom providers from a host's config). */
export type FallbackResolver = (provider: string) => string | undefined;

/** How long the output of a `!command` config value is reused. */
const COMMAND_CACHE_MS = 60_000;

/**
 * The default config value resolver: a value naming a set env var resolves to that variable,
 * otherwise it is literal. `!command` runs the command (stdout, trimmed) only when `allowCommands`;
 * otherwise it too is literal.
 */
export function createConfigValueResolver(options: {
	env: Env;
	allowCommands: boolean;
	clock: Clock;
	logger: Logger;
}): ConfigValueResolver {
	const commandCache = new Map<string, { value: string | undefined; at: number }>();
	return (value: string) => {
		if (options.allowCommands && value.startsWith("!")) {
			const command = value.slice(1).trim();
			const cached = commandCache.get(command);
			const now = options.clock.now();
			if (cached && now - cached.at < COMMAND_CACHE_MS) return cached.value;
			let output: string | undefined;
			try {
				output = execSync(command, { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "ignore"] }).trim();
			} catch (error) {
				// The command text may itself embed a secret; log neither it nor its output.
				options.logger.warn("config value command failed", { error: redactString(errorMessage(error)).slice(0, 200) });
				output = undefined;
			}
			const resolved = output === "" ? undefined : output;
			commandCache.set(command, { value: resolved, at: now });
			return resolved;
		}
		const fromEnv = options.env[value];
		return fromEnv ? fromEnv : value;
	};
}

/** The first non-empty env var the provider's plugin names, with its name. */
export function envApiKey(
	registry: ProviderRegistry,
	env: Env,
	provider: string,
): { name: string; value: string } | undefined {
	for (const name of envApiKeyNames(registry.get(provider), env)) {
		const value = env[name];
		if (value) return { name, value };
	}
	return undefined;
}

export interface KeyCascadeOptions {
	registry: ProviderRegistry;
	env: Env;
	pool: CredentialPool;
	selector: CredentialSelector;
	configValueResolver: ConfigValueResolver;
	/** Label of the store in descriptions ("memory store", "sqlite store", ...). */
	storeLabel: string;
}

/** Overrides + the precedence cascade. */
export class KeyCascade {
	readonly runtime = new Map<string, string>();
	readonly config = new Map<string, string>();
	fallback: FallbackResolver | undefined;
	readonly #o: KeyCascadeOptions;

	constructor(options: KeyCascadeOptions) {
		this.#o = options;
	}

	#env(provider: string) {
		return envApiKey(this.#o.registry, this.#o.env, provider);
	}

	async #resolveConfig(value: string): Promise<string | undefined> {
		const resolved = await this.#o.configValueResolver(value);
		return resolved === "" ? undefined : resolved;
	}

	/**
	 * The first two legs: a runtime override, then a config override (resolved). `undefined` — not a
	 * promise — when neither is set, so the hot path pays no extra await.
	 */
	#override(provider: string): Promise<string | undefined> | undefined {
		const runtime = this.runtime.get(provider);
		if (runtime) return Promise.resolve(runtime);
		const config = this.config.get(provider);
		return config ? this.#resolveConfig(config) : undefined;
	}

	/** The full cascade; refreshes OAuth and records session pins. */
	async getApiKey(provider: string, sessionId?: string, options: SelectionOptions = {}): Promise<string | undefined> {
		const override = this.#override(provider);
		if (override) {
			const key = await override;
			if (key) return key;
		}
		const check = this.#o.pool.checkCurrent();
		if (check.current) {
			const warm = this.#o.selector.warmOAuth(provider, sessionId, options);
			if (warm) return warm.apiKey;
		}
		await this.#o.pool.sync(check.observed);
		const oauth = await this.#o.selector.resolveOAuth(provider, sessionId, options);
		if (oauth) return oauth.apiKey;
		const env = this.#env(provider);
		if (env) return env.value;
		const row = await this.#o.selector.selectApiKey(provider, sessionId);
		if (row && row.credential.type === "api_key") {
			const resolved = await this.#resolveConfig(row.credential.key);
			if (resolved) return resolved;
		}
		return this.fallback?.(provider) ?? undefined;
	}

	/**
	 * Best-effort key without refreshing or recording anything (model discovery): an OAuth access
	 * token only while it has not expired.
	 */
	async peekApiKey(provider: string, now: number): Promise<string | undefined> {
		const override = this.#override(provider);
		if (override) {
			const key = await override;
			if (key) return key;
		}
		await this.#o.pool.sync();
		const oauth = this.#o.selector.peek(provider, "oauth");
		if (
			oauth?.credential.type === "oauth" &&
			Number.isFinite(oauth.credential.expires) &&
			oauth.credential.expires > now
		) {
			return this.#o.selector.apiKeyOf(oauth);
		}
		const env = this.#env(provider);
		if (env) return env.value;
		const row = this.#o.selector.peek(provider, "api_key");
		if (row?.credential.type === "api_key") {
			const resolved = await this.#resolveConfig(row.credential.key);
			if (resolved) return resolved;
		}
		return this.fallback?.(provider) ?? undefined;
	}

	/** Same order as `getApiKey`, memory only. */
	origin(provider: string): CredentialOrigin | undefined {
		if (this.runtime.get(provider)) return { kind: "runtime" };
		if (this.config.get(provider)) return { kind: "config" };
		if (this.#o.pool.rows(provider, "oauth").length > 0) return { kind: "oauth" };
		const env = this.#env(provider);
		if (env) return { kind: "env", envVar: env.name };
		if (this.#o.pool.rows(provider, "api_key").length > 0) return { kind: "api_key" };
		if (this.fallback?.(provider) !== undefined) return { kind: "fallback" };
		return undefined;
	}

	/** Human description of where the key comes from (informational; do not parse). */
	describe(provider: string, sessionId?: string): string | undefined {
		const origin = this.origin(provider);
		if (!origin) return undefined;
		const label = this.#o.storeLabel;
		const describeRow = (row: StoredAuthCredential | undefined) => {
			if (!row) return undefined;
			const credential = row.credential;
			const who =
				credential.type === "oauth"
					? (credential.email ?? credential.accountId ?? credential.projectId ?? `cred ${row.id}`)
					: `cred ${row.id}`;
			return `${label} · ${credential.type} #${row.id} (${who})`;
		};
		switch (origin.kind) {
			case "runtime":
				return "runtime override";
			case "config":
				return "config override";
			case "oauth":
				return describeRow(this.#o.selector.peek(provider, "oauth", sessionId));
			case "env":
				return `env ${origin.envVar} (over ${label})`;
			case "api_key":
				return describeRow(this.#o.selector.peek(provider, "api_key", sessionId));
			case "fallback":
				return "fallback resolver";
		}
	}

	/** Any source at all (no refresh). */
	hasAuth(provider: string): boolean {
		return this.origin(provider) !== undefined;
	}

	/** Any source except an environment variable. */
	hasNonEnvCredential(provider: string): boolean {
		if (this.runtime.get(provider) || this.config.get(provider)) return true;
		if (this.#o.pool.rows(provider).length > 0) return true;
		return this.fallback?.(provider) !== undefined;
	}
}
