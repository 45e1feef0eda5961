/**
 * The provider plugin contract (docs/provider-plugins.md). A plugin is a plain object; every side effect goes
 * through the context it is handed (fetch, clock, signal, logger, env), never through globals.
 */
import { AuthpoolError } from "./errors";
import type { AuthCredential, Clock, Env, FetchLike, Logger, OAuthCredential } from "./types";
import type { CredentialRankingStrategy, UsageProvider } from "./usage/types";

/** What every plugin call receives. */
export interface PluginContext {
	fetch: FetchLike;
	clock: Clock;
	logger: Logger;
	env: Env;
	/** Aborts when the (shared) operation times out; a plugin must pass it to fetch. */
	signal: AbortSignal;
}

/** What a refresh returns; missing identity fields are kept from the previous credential. */
export interface OAuthRefreshResult {
	access: string;
	/** Omit (or return the old one) when the provider does not rotate. */
	refresh?: string;
	/** Epoch ms. */
	expires: number;
	accountId?: string;
	email?: string;
	projectId?: string;
	enterpriseUrl?: string;
	apiEndpoint?: string;
	[extension: string]: unknown;
}

/** A credential produced by a login flow. */
export type OAuthLoginResult = Omit<OAuthCredential, "type"> | string;

export interface OAuthLoginCallbacks {
	/** Show the user a URL to open (and optional instructions, e.g. a device code). */
	onAuth(info: { url: string; instructions?: string }): void;
	onProgress?(message: string): void;
	/** Ask the user for text (paste-code flows, API keys, enterprise domains). */
	onPrompt?(prompt: { message: string; placeholder?: string; allowEmpty?: boolean }): Promise<string>;
}

export interface OAuthPlugin {
	/** `true` when every refresh consumes the old refresh token (a reuse answers invalid_grant). */
	rotatesRefreshToken: boolean;
	/**
	 * Exchange the refresh token for a new access token. Throw `OAuthRefreshError` (see
	 * `requestOAuthToken`) with `definitive` set; any other error is classified by its message.
	 */
	refresh(credential: OAuthCredential, ctx: PluginContext): Promise<OAuthRefreshResult>;
	/** The string handed to callers as the "API key" (default: `credential.access`). */
	toApiKey?(credential: OAuthCredential): string;
	/** Interactive login. */
	login?(callbacks: OAuthLoginCallbacks, ctx: PluginContext): Promise<OAuthLoginResult>;
}

export interface ResetCredit {
	id: string;
	resetType?: string;
	status?: string;
	grantedAt?: string;
	expiresAt?: string;
	redeemStartedAt?: string | null;
	redeemedAt?: string | null;
	title?: string;
	description?: string;
}

export interface ResetCreditList {
	credits: ResetCredit[];
	availableCount: number;
}

export interface ResetCreditRedeemResult {
	ok: boolean;
	/** `reset`, `already_redeemed`, `no_credit`, `nothing_to_reset`, `http_<status>` or a passed-through code. */
	code: string;
	status?: number;
}

export interface ResetCreditsPlugin {
	/** `null` on failure. */
	list(credential: OAuthCredential, ctx: PluginContext & { baseUrl?: string }): Promise<ResetCreditList | null>;
	/** `requestId` is the idempotency key: retrying with the same id must not spend twice. */
	redeem(
		credential: OAuthCredential,
		creditId: string,
		ctx: PluginContext & { baseUrl?: string; requestId?: string },
	): Promise<ResetCreditRedeemResult>;
}

export interface ProviderPlugin {
	/** Provider id: "anthropic", "openai-codex", ... */
	id: string;
	/** Human name for tables and prompts. */
	name?: string;
	/**
	 * Env vars that may hold an API key/token, in precedence order (first non-empty wins). A function
	 * receives the environment and returns the list (e.g. Anthropic's Foundry switch).
	 */
	envApiKeys?: readonly string[] | ((env: Env) => readonly string[]);
	usage?: UsageProvider;
	ranking?: CredentialRankingStrategy;
	oauth?: OAuthPlugin;
	resetCredits?: ResetCreditsPlugin;
	/**
	 * Which stored credentials can serve a request (e.g. a model only a Pro plan may use). Return `true`
	 * when the credential can serve it, `false` or a short reason (no secrets) when it cannot. Ineligible
	 * rows are skipped in every selection mode; a request no row can serve fails with
	 * `NO_ELIGIBLE_CREDENTIAL` carrying the reasons. Called on the hot path: keep it pure and cheap.
	 */
	eligible?(credential: AuthCredential, context: { modelId?: string }): boolean | string;
	/**
	 * Credential fields this provider stores that are secret beyond `access`/`refresh`/`key` (for
	 * example a session cookie); `withEncryption` seals them (see `pluginSecretFields`).
	 */
	secretFields?: readonly string[];
}

/** Immutable id → plugin lookup, passed in options (no global registry). */
export interface ProviderRegistry {
	get(id: string): ProviderPlugin | undefined;
	list(): ProviderPlugin[];
}

/** Build a registry; duplicate ids are an error. */
export function createProviderRegistry(plugins: Iterable<ProviderPlugin> = []): ProviderRegistry {
	const map = new Map<string, ProviderPlugin>();
	for (const plugin of plugins) {
		if (!plugin || typeof plugin.id !== "string" || plugin.id === "") {
			throw new AuthpoolError("INVALID_OPTIONS", "Invalid provider plugin: missing id");
		}
		if (map.has(plugin.id)) {
			throw new AuthpoolError("INVALID_OPTIONS", `Duplicate provider plugin id: ${plugin.id}`);
		}
		map.set(plugin.id, plugin);
	}
	return {
		get: (id) => map.get(id),
		list: () => [...map.values()],
	};
}

/** Resolve a plugin's env var names for the given environment. */
export function envApiKeyNames(plugin: ProviderPlugin | undefined, env: Env): readonly string[] {
	const keys = plugin?.envApiKeys;
	if (!keys) return [];
	return typeof keys === "function" ? keys(env) : keys;
}
