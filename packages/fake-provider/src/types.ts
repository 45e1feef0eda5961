/**
 * Public types of `@authpool/fake-provider`. Standalone on purpose: no dependency on `@authpool/core`.
 */

/** Provider ids the fake knows natively; any other id behaves as a generic OAuth provider. */
export type KnownFakeProviderId =
	| "anthropic"
	| "openai-codex"
	| "google-gemini-cli"
	| "google-antigravity"
	| "github-copilot"
	| "kimi-code"
	| "zai"
	| "opencode-go"
	| "ollama"
	| "ollama-cloud";

/** A provider id: a known one, or any other string (generic OAuth provider). */
export type FakeProviderId = KnownFakeProviderId | (string & {});

/** Names of the simulated endpoints (see the README's endpoint table). */
export type FakeEndpoint =
	| "token"
	| "usage"
	| "profile"
	| "bootstrap"
	| "inference"
	| "whoami"
	| "resetCredits"
	| "consumeReset"
	| "loadCodeAssist"
	| "retrieveUserQuota"
	| "fetchAvailableModels"
	| "userinfo"
	| "copilotUser"
	| "githubUser"
	| "billing"
	| "deviceCode"
	| "modelUsage";

/** Options of {@link startFakeProvider}. */
export interface FakeProviderOptions {
	/** Port to listen on. @default 0 (any free port) */
	port?: number;
	/** Loopback address to bind. Anything that is not loopback throws. @default "127.0.0.1" */
	host?: string;
	/** Clock in epoch ms: token expiry, quota windows, reset times, `requests[].at`. @default Date.now */
	now?: () => number;
	/** Lifetime of issued access tokens. @default 3_600_000 */
	accessTokenTtlMs?: number;
	/** Issue a new refresh token on each refresh and retire the old one. @default true */
	rotateRefreshTokens?: boolean;
	/** Real-time delay before every response. @default 0 */
	latencyMs?: number;
	/**
	 * Pause between the chunks of a streamed inference answer (a request body with `"stream": true`).
	 * @default 10
	 */
	streamChunkDelayMs?: number;
	/** `interval` (seconds) advertised by device-code endpoints. @default 5 */
	deviceIntervalSeconds?: number;
}

/** One usage window knob. */
export interface FakeUsageWindow {
	/** Used share in percent, 0..100 (may exceed 100 for overage). */
	usedPercent: number;
	/** Epoch ms of the window's reset. Defaults to the quota window's end. */
	resetsAt?: number;
	/** Window length in ms (drives `limit_window_seconds`, window minutes...). */
	windowMs?: number;
}

/** Usage knobs of an account; every field optional, merged by `setUsage`. */
export interface FakeUsagePatch {
	/** Codex `plan_type`, Copilot `copilot_plan`, Gemini tier id. */
	plan?: string;
	/** The short window. `null` removes it; unset derives it from inference use. */
	primary?: FakeUsageWindow | null;
	/** The long window. `null` removes it; unset means 0 % over 7 days. */
	secondary?: FakeUsageWindow | null;
	/** Provider-specific extra buckets (see README). `null` removes one. */
	buckets?: Record<string, FakeUsageWindow | null>;
	/** Codex: number of available saved-reset credits. */
	resetCredits?: number;
	/** Copilot premium entitlement; Kimi 5 h limit. */
	entitlement?: number;
	/** Body returned verbatim by an endpoint for this account (after authentication). */
	raw?: Partial<Record<FakeEndpoint, unknown>>;
}

/** How to create an account. */
export interface FakeAccountSpec {
	/** Fake handle. @default `${provider}-${n}` */
	id?: string;
	email?: string;
	/** Provider-side account id (anthropic uuid, codex chatgpt_account_id, copilot login...). */
	accountId?: string;
	projectId?: string;
	plan?: string;
	/** Credential type override. @default by provider */
	type?: "oauth" | "api_key";
	/** API key for api_key accounts. @default random */
	apiKey?: string;
	/** Inference requests allowed per window. @default Infinity */
	quota?: number;
	/** Quota window length. @default 18_000_000 (5 h) */
	windowMs?: number;
	/** Initial usage knobs. */
	usage?: FakeUsagePatch;
	/** Per-account override of {@link FakeProviderOptions.rotateRefreshTokens}. */
	rotateRefreshTokens?: boolean;
	/** Per-account override of {@link FakeProviderOptions.accessTokenTtlMs}. */
	accessTokenTtlMs?: number;
	/** Expiry (epoch ms) of the FIRST access token, e.g. `now - 1` to start expired. */
	expiresAt?: number;
	/** Anthropic: include `account{uuid,email_address}` in token responses. @default true */
	identityInTokenResponse?: boolean;
	/** For `createAuthorizationCode` / `approveDeviceCode`: use this existing account instead of a new one. */
	existingAccountId?: string;
}

/** A credential shaped like authpool's, ready to store. */
export type FakeCredential =
	| {
			type: "oauth";
			access: string;
			refresh: string;
			expires: number;
			accountId?: string;
			email?: string;
			projectId?: string;
	  }
	| { type: "api_key"; key: string };

/** A live view of a simulated account: getters reflect later refreshes. */
export interface FakeAccount {
	readonly id: string;
	readonly provider: string;
	readonly type: "oauth" | "api_key";
	readonly email?: string;
	readonly accountId?: string;
	readonly projectId?: string;
	readonly plan?: string;
	/** Current refresh token ("" for api_key accounts). */
	readonly refreshToken: string;
	/** Current access token (the key for api_key accounts). */
	readonly accessToken: string;
	/** Epoch ms expiry of the current access token. */
	readonly expiresAt: number;
	readonly apiKey?: string;
	/** Built from the current tokens on every read. */
	readonly credential: FakeCredential;
}

/**
 * Fault modes of `failNext` beyond a canned answer:
 * - `late`: the request is handled normally on arrival (a refresh rotates, the old token is spent) but
 *   the answer only leaves after `delayMs` — the client may time out and never see the new tokens.
 * - `redirect`: `307` (or `status`) with `Location: location` (default: another loopback port).
 * - `echoRefreshToken`: `400` (or `status`) OAuth error whose `error` and `error_description` quote
 *   the refresh token the request presented. Nothing rotates.
 * - `htmlForbidden`: `403` (or `status`) HTML page, like a WAF or geo block. Nothing rotates.
 * - `zeroExpiry`: handled normally, but a successful token answer says `expires_in: expiresIn` (default 0).
 * - `endlessBody`: `200` (or `status`) JSON-looking body that never ends (until the client leaves or `close()`).
 */
export type FakeFaultMode = "late" | "redirect" | "echoRefreshToken" | "htmlForbidden" | "zeroExpiry" | "endlessBody";

/** A failure to inject with `failNext`. */
export interface FakeFailure {
	/** A fault mode; `status`, `headers`, `delayMs` still apply where they make sense. */
	mode?: FakeFaultMode;
	/** `redirect` mode's `Location`. @default `http://127.0.0.1:9/redirected` */
	location?: string;
	/** `zeroExpiry` mode's `expires_in` (seconds). @default 0 */
	expiresIn?: number;
	/** @default 500 */
	status?: number;
	/** A string is sent as-is; anything else as JSON. */
	body?: unknown;
	headers?: Record<string, string>;
	/** How many matching requests fail. @default 1 */
	times?: number;
	/** Real-time delay before answering (in `late` mode: after handling, before answering). */
	delayMs?: number;
	/** Never answer (until `close()`). */
	hang?: boolean;
	/** Destroy the socket without answering (a network error). */
	destroy?: boolean;
}

/** One recorded request. Headers lower-cased; nothing redacted (test tool). */
export interface FakeRequest {
	provider: string;
	endpoint: FakeEndpoint | "unknown";
	method: string;
	path: string;
	query: Record<string, string>;
	headers: Record<string, string>;
	/** Parsed JSON / form object, the raw string if unparseable, `undefined` if empty. */
	body: unknown;
	rawBody: string;
	/** Fake clock at arrival. */
	at: number;
	/** Response status once answered. */
	status?: number;
	/** The fake account the request authenticated as, if any. */
	accountId?: string;
}

/** A pending device-code login. */
export interface FakeDeviceCode {
	provider: string;
	userCode: string;
	deviceCode: string;
}

/** Target of `setLatency`. */
export interface FakeLatencyTarget {
	provider?: string;
	endpoint?: FakeEndpoint;
}

/** The running simulator. */
export interface FakeProvider {
	readonly url: string;
	baseUrl(provider: FakeProviderId): string;
	addAccount(provider: FakeProviderId, spec?: FakeAccountSpec): FakeAccount;
	account(idOrToken: string): FakeAccount | undefined;
	accounts(provider?: FakeProviderId): FakeAccount[];
	setUsage(accountId: string, patch: FakeUsagePatch): void;
	revoke(accountId: string): void;
	expireAccessToken(accountId: string): void;
	failNext(provider: FakeProviderId, endpoint: FakeEndpoint | "*", failure?: FakeFailure): void;
	setLatency(ms: number, target?: FakeLatencyTarget): void;
	readonly requests: readonly FakeRequest[];
	count(provider?: FakeProviderId, endpoint?: FakeEndpoint): number;
	refreshCount(accountId?: string): number;
	inferenceCount(accountId?: string): number;
	createAuthorizationCode(provider: FakeProviderId, spec?: FakeAccountSpec): { code: string; account: FakeAccount };
	approveDeviceCode(userCode: string, spec?: FakeAccountSpec): FakeAccount;
	denyDeviceCode(userCode: string): void;
	pendingDeviceCodes(provider?: FakeProviderId): FakeDeviceCode[];
	reset(): void;
	close(): Promise<void>;
}
