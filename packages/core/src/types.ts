/**
 * The credential model shared by every authpool package (docs/credential-model.md).
 */

/** A static API key. */
export interface ApiKeyCredential {
	type: "api_key";
	key: string;
}

/**
 * An OAuth login. Unknown provider fields round-trip untouched through every store.
 * `expires` is epoch milliseconds.
 */
export interface OAuthCredential {
	type: "oauth";
	access: string;
	refresh: string;
	expires: number;
	accountId?: string;
	email?: string;
	projectId?: string;
	enterpriseUrl?: string;
	apiEndpoint?: string;
	[extension: string]: unknown;
}

export type AuthCredential = ApiKeyCredential | OAuthCredential;
export type CredentialType = AuthCredential["type"];

/** A credential row as a store holds it. `id` is the stable handle everywhere. */
export interface StoredAuthCredential {
	id: number;
	provider: string;
	credential: AuthCredential;
	/** `null` while active; the reason once soft-disabled (a tombstone). */
	disabledCause: string | null;
	/** Bumps on every write to the row; used for compare-and-set. */
	version: number;
	/** Identity key (see `credentialIdentityKey`); `null` when none can be derived. */
	identityKey: string | null;
	/** Epoch ms. */
	createdAt: number;
	/** Epoch ms of the last write. */
	updatedAt: number;
	/** Epoch ms of the soft-disable, `null` while active. */
	disabledAt: number | null;
}

/** Sentinel that replaces OAuth refresh tokens in anything that leaves a broker. */
export const REMOTE_REFRESH_SENTINEL = "__remote__" as const;

/** Injected time source. */
export interface Clock {
	now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Injected logger; silent by default. Never pass a secret in `message` or `fields`. */
export interface Logger {
	debug(message: string, fields?: Record<string, unknown>): void;
	info(message: string, fields?: Record<string, unknown>): void;
	warn(message: string, fields?: Record<string, unknown>): void;
	error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Environment lookup (defaults to `process.env`). */
export type Env = Record<string, string | undefined>;

/** A WHATWG-compatible fetch. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
