/**
 * Auth precedence (docs/selection.md "Precedence"): runtime override → config override → stored OAuth (refreshed) →
 * environment variable → stored API key → fallback resolver. `origin`/`describe` report the same
 * order from memory with no side effects.
 */
import { type ExecException, exec } from "node:child_process";
import { AuthpoolError } from "../errors";
import { envApiKeyNames, type ProviderRegistry } from "../plugin";
import type { CredentialSelector, SelectionOptions } from "../selection/select";
import type { Clock, Env, Logger, StoredAuthCredential } from "../types";
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
const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const DEFAULT_COMMAND_MAX_OUTPUT_BYTES = 64 * 1024;

/** Options of {@link createConfigValueResolver}. */
export interface ConfigValueResolverOptions {
	env: Env;
	/** Run `!command` values; when `false` they are literal. */
	allowCommands: boolean;
	clock: Clock;
	logger: Logger;
	/** Kill a `!command` that has not exited after this long (ms). @default 10000 */
	commandTimeoutMs?: number;
	/** A `!command` whose stdout exceeds this many bytes is killed and resolves to nothing. @default 65536 */
	commandMaxOutputBytes?: number;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
	if (value === undefined) return fallback;
	if (!Number.isInteger(value) || value <= 0) {
		throw new AuthpoolError("INVALID_OPTIONS", `createConfigValueResolver: ${name}: expected a positive integer`);
	}
	return value;
}

/**
 * Why a command failed, in words that carry nothing of the command or its output (either may embed a
 * secret).
 */
function commandFailure(error: ExecException, maxOutputBytes: number): string {
	if ((error.code as unknown) === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") return `output over ${maxOutputBytes} bytes`;
	if (error.killed) return error.signal === "SIGTERM" ? "timed out" : `killed by ${error.signal ?? "a signal"}`;
	if (typeof error.code === "number") return `exit ${error.code}`;
	if (error.signal) return `killed by ${error.signal}`;
	return "could not start";
}

function runCommand(
	command: string,
	timeoutMs: number,
	maxOutputBytes: number,
	logger: Logger,
): Promise<string | undefined> {
	return new Promise((resolve) => {
		// A shell, as `!command` has always meant, but asynchronous: a slow helper must not stall the
		// event loop of every request in the process.
		const child = exec(
			command,
			{ encoding: "utf8", timeout: timeoutMs, maxBuffer: maxOutputBytes, windowsHide: true },
			(error, stdout) => {
				if (error) {
					logger.warn(`config command failed (${commandFailure(error, maxOutputBytes)})`, {});
					resolve(undefined);
					return;
				}
				const output = stdout.trim();
				resolve(output === "" ? undefined : output);
			},
		);
		child.stdin?.end();
	});
}

/**
 * The default config value resolver: a value naming a set env var resolves to that variable,
 * otherwise it is literal. `!command` runs the command through a shell (stdout, trimmed;
 * asynchronous, killed after `commandTimeoutMs`, output capped) only when `allowCommands`; otherwise
 * it too is literal. A failing command resolves to `undefined` and logs one line that names neither
 * the command nor its output. Results are reused for a minute; concurrent callers share one run.
 */
export function createConfigValueResolver(options: ConfigValueResolverOptions): ConfigValueResolver {
	const timeoutMs = positiveInteger("commandTimeoutMs", options.commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS);
	const maxOutputBytes = positiveInteger(
		"commandMaxOutputBytes",
		options.commandMaxOutputBytes,
		DEFAULT_COMMAND_MAX_OUTPUT_BYTES,
	);
	const commandCache = new Map<string, { value: string | undefined; at: number }>();
	const inFlight = new Map<string, Promise<string | undefined>>();
	return (value: string) => {
		if (options.allowCommands && value.startsWith("!")) {
			const command = value.slice(1).trim();
			const cached = commandCache.get(command);
			const now = options.clock.now();
			if (cached && now - cached.at < COMMAND_CACHE_MS) return cached.value;
			const running = inFlight.get(command);
			if (running) return running;
			const run = runCommand(command, timeoutMs, maxOutputBytes, options.logger).then((resolved) => {
				inFlight.delete(command);
				commandCache.set(command, { value: resolved, at: options.clock.now() });
				return resolved;
			});
			inFlight.set(command, run);
			return run;
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
		const ineligible = this.#o.selector.ineligibleError(provider, options.modelId);
		if (ineligible) throw ineligible;
		const env = this.#env(provider);
		if (env) return env.value;
		const row = await this.#o.selector.selectApiKey(provider, sessionId, options);
		if (row && row.credential.type === "api_key") {
			const resolved = await this.#resolveConfig(row.credential.key);
			if (resolved) return resolved;
		}
		return this.fallback?.(provider) ?? undefined;
	}

	/** A stored API key's value through the config value resolver (`undefined` when it resolves empty). */
	resolveStoredKey(value: string): Promise<string | undefined> {
		return this.#resolveConfig(value);
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
