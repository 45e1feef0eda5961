/**
 * Token-endpoint plumbing shared by provider plugins: sends the refresh request, classifies failures
 * into `OAuthRefreshError` (definitive vs transient) and never puts token bytes in a message.
 */

import { OAuthRefreshError } from "../errors";
import type { PluginContext } from "../plugin";
import { isRecord, toNumber } from "../usage/report";
import { scrubSecrets } from "../util/redact";

export interface OAuthTokenRequest {
	/** Provider id, for messages. */
	provider: string;
	url: string;
	body: Record<string, string>;
	/** `form` = application/x-www-form-urlencoded. */
	encoding: "json" | "form";
	headers?: Record<string, string>;
	/** What the request is for, in error messages. @default "token refresh" */
	purpose?: string;
	/**
	 * Further secrets to scrub from anything the provider sends back (e.g. the credential's current
	 * access token). Secret body fields (`refresh_token`, `client_secret`, `code`, ...) are scrubbed anyway.
	 */
	secrets?: readonly string[];
}

/** Largest token-endpoint response body read; anything longer is a transient failure. */
export const MAX_TOKEN_RESPONSE_BYTES = 1_048_576;

const DEFINITIVE_CODES = new Set(["invalid_grant", "invalid_token", "unauthorized_client", "invalid_client"]);
/** A provider error code we are willing to repeat: a plain identifier, never free text. */
const PLAIN_CODE = /^[a-z_]{1,64}$/;
/** Wording that clearly says the refresh token (or the grant behind it) is dead. */
const DEAD_REFRESH_TOKEN =
	/\brefresh[\s_-]?token\b[^\n]{0,80}\b(?:invalid|expired|revoked|not (?:found|valid|recognised|recognized)|already (?:been )?used|reused)\b|\b(?:invalid|expired|revoked)\b[^\n]{0,40}\brefresh[\s_-]?token\b|\b(?:grant|token) (?:has been |was )?revoked\b/i;
const SECRET_BODY_FIELDS = ["refresh_token", "access_token", "client_secret", "code", "code_verifier", "device_code"];

function oauthErrorCode(body: unknown): { code?: string; description?: string } {
	if (!isRecord(body)) return {};
	const err = body.error;
	if (typeof err === "string") {
		return {
			code: err,
			...(typeof body.error_description === "string" ? { description: body.error_description } : {}),
		};
	}
	if (isRecord(err)) {
		const code = typeof err.code === "string" ? err.code : typeof err.type === "string" ? err.type : undefined;
		const description = typeof err.message === "string" ? err.message : undefined;
		return { ...(code ? { code } : {}), ...(description ? { description } : {}) };
	}
	return {};
}

/**
 * Classify a token-endpoint HTTP failure. Definitive only for a recognised OAuth error: a grant-killing
 * code (`invalid_grant`, `invalid_client`, `unauthorized_client`, `invalid_token`), or an error
 * description that clearly says the refresh token is invalid/expired/revoked. Everything else —
 * redirects, HTML pages (WAF, geo blocks), bare or unrecognised 401/403, 5xx, 429 — is transient,
 * because disabling a live credential on a proxy's say-so costs far more than one more retry.
 */
export function classifyTokenEndpointFailure(status: number, code?: string, description?: string): boolean {
	if (status < 400) return false;
	const text = `${code ?? ""} ${description ?? ""}`;
	if (/cloudflare|captcha|<\s*(?:!doctype|html|body)\b/i.test(text)) return false;
	if (code && DEFINITIVE_CODES.has(code)) return true;
	if (status === 408 || status === 429 || status >= 500) return false;
	return description !== undefined && DEAD_REFRESH_TOKEN.test(description);
}

/** Reads the body under `signal`, stopping at `MAX_TOKEN_RESPONSE_BYTES`. Abort rejects with the signal's reason. */
async function readCappedBody(response: Response, signal: AbortSignal): Promise<string | undefined> {
	const stream = response.body;
	if (!stream) return "";
	const reader = stream.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	let onAbort: (() => void) | undefined;
	const aborted = new Promise<never>((_, reject) => {
		onAbort = () => reject(signal.reason ?? new DOMException("This operation was aborted", "AbortError"));
		if (signal.aborted) onAbort();
		else signal.addEventListener("abort", onAbort, { once: true });
	});
	// The race below may leave `aborted` rejected with nobody listening.
	aborted.catch(() => {});
	try {
		for (;;) {
			const { done, value } = await Promise.race([reader.read(), aborted]);
			if (done) break;
			size += value.byteLength;
			if (size > MAX_TOKEN_RESPONSE_BYTES) return undefined;
			chunks.push(value);
		}
	} finally {
		if (onAbort) signal.removeEventListener("abort", onAbort);
		// Releases the connection of a body we stopped reading (cap or abort); a no-op once done.
		reader.cancel().catch(() => {});
	}
	const bytes = new Uint8Array(size);
	let offset = 0;
	for (const chunk of chunks) {
		bytes.set(chunk, offset);
		offset += chunk.byteLength;
	}
	return new TextDecoder().decode(bytes);
}

function requestSecrets(request: OAuthTokenRequest): string[] {
	const secrets = [...(request.secrets ?? [])];
	for (const field of SECRET_BODY_FIELDS) {
		const value = request.body[field];
		if (value) secrets.push(value);
	}
	for (const [name, value] of Object.entries(request.headers ?? {})) {
		if (name.toLowerCase() === "authorization") secrets.push(value.replace(/^\w+\s+/, ""), value);
	}
	return secrets;
}

/** The provider's error code, if it is a plain identifier that quotes no secret. */
function safeErrorCode(code: string | undefined, secrets: readonly string[]): string | undefined {
	if (code === undefined || !PLAIN_CODE.test(code)) return undefined;
	return scrubSecrets(code, secrets) === code ? code : undefined;
}

/**
 * POST a token request and return the parsed JSON object. Throws `OAuthRefreshError`:
 * `definitive: true` for a dead grant (see `classifyTokenEndpointFailure`), `false` for network errors,
 * redirects (never followed, so secrets never reach another host), 5xx, 429, HTML pages, bodies over
 * `MAX_TOKEN_RESPONSE_BYTES` and malformed bodies. The body is read under `ctx.signal` too; an abort of
 * `ctx.signal` is re-thrown as is. Messages and `errorCode` never carry the request's secrets.
 */
export async function requestOAuthToken(
	request: OAuthTokenRequest,
	ctx: PluginContext,
): Promise<Record<string, unknown>> {
	const headers: Record<string, string> = {
		accept: "application/json",
		"content-type": request.encoding === "json" ? "application/json" : "application/x-www-form-urlencoded",
		...request.headers,
	};
	const body =
		request.encoding === "json" ? JSON.stringify(request.body) : new URLSearchParams(request.body).toString();
	const what = `${request.provider} ${request.purpose ?? "token refresh"} failed`;
	const secrets = requestSecrets(request);
	const fail = (message: string, definitive: boolean, extra: { status?: number; errorCode?: string } = {}) =>
		new OAuthRefreshError(scrubSecrets(message, secrets), {
			provider: request.provider,
			definitive,
			...extra,
		});
	let response: Response;
	try {
		response = await ctx.fetch(request.url, {
			method: "POST",
			headers,
			body,
			signal: ctx.signal,
			redirect: "manual",
		});
	} catch (error) {
		if (ctx.signal.aborted) throw error;
		const name = error instanceof Error ? error.name : "Error";
		throw new OAuthRefreshError(`${what}: network error (${scrubSecrets(name, secrets)})`, {
			provider: request.provider,
			definitive: false,
			cause: error instanceof Error ? new Error(scrubSecrets(error.message, secrets)) : undefined,
		});
	}
	// `opaqueredirect` (status 0) is what spec-following fetches return for a manual redirect.
	if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
		response.body?.cancel().catch(() => {});
		const status = response.status || undefined;
		throw fail(`${what}: HTTP ${status ?? "redirect"} redirect not followed (transient)`, false, {
			...(status ? { status } : {}),
		});
	}
	let text: string | undefined;
	try {
		text = await readCappedBody(response, ctx.signal);
	} catch (error) {
		if (ctx.signal.aborted) throw error;
		text = "";
	}
	if (text === undefined) {
		throw fail(
			`${what}: HTTP ${response.status} response body exceeds ${MAX_TOKEN_RESPONSE_BYTES} bytes (transient)`,
			false,
			{
				status: response.status,
			},
		);
	}
	let parsed: unknown;
	try {
		parsed = text ? JSON.parse(text) : undefined;
	} catch {
		parsed = undefined;
	}
	if (!response.ok) {
		const { code, description } = oauthErrorCode(parsed);
		const definitive = classifyTokenEndpointFailure(response.status, code, description);
		const errorCode = safeErrorCode(code, secrets);
		const detail = errorCode ? ` (${errorCode})` : "";
		throw fail(`${what}: HTTP ${response.status}${detail}${definitive ? "" : " (transient)"}`, definitive, {
			status: response.status,
			...(errorCode ? { errorCode } : {}),
		});
	}
	if (!isRecord(parsed)) {
		throw fail(`${what}: response is not a JSON object`, false, { status: response.status });
	}
	return parsed;
}

/** Read `access_token`/`expires_in` style fields; throws a transient error when required ones are missing. */
export function requireTokenFields(
	provider: string,
	body: Record<string, unknown>,
	required: ReadonlyArray<"access_token" | "refresh_token" | "expires_in">,
): void {
	for (const field of required) {
		const value = body[field];
		const ok = field === "expires_in" ? toNumber(value) !== undefined : typeof value === "string" && value !== "";
		if (!ok) {
			throw new OAuthRefreshError(`${provider} token response is missing a valid ${field}`, {
				provider,
				definitive: false,
			});
		}
	}
}

/**
 * Shortest lifetime `tokenExpiry` grants: the refresher's default skew (60 s, it refreshes once
 * `now + skew >= expires`) plus 60 s, so a bogus `expires_in` can never make every call refresh.
 */
export const MIN_TOKEN_LIFETIME_MS = 120_000;
/** Lifetime assumed when `expires_in` is missing or not a number (the common OAuth default). */
export const DEFAULT_TOKEN_LIFETIME_MS = 3_600_000;
/** Longest lifetime believed; a larger `expires_in` is clamped (the 401 retry path still refreshes). */
export const MAX_TOKEN_LIFETIME_MS = 365 * 86_400_000;

/**
 * `expires` (epoch ms) for a token response's `expires_in` (seconds): `now + expires_in·1000 − skewMs`,
 * clamped to [`now + MIN_TOKEN_LIFETIME_MS`, `now + MAX_TOKEN_LIFETIME_MS`]; a missing or non-numeric
 * value counts as `DEFAULT_TOKEN_LIFETIME_MS`. Logs a warning (provider and value only) when it clamps.
 */
export function tokenExpiry(
	ctx: Pick<PluginContext, "clock" | "logger">,
	provider: string,
	expiresIn: unknown,
	skewMs = 0,
): number {
	const seconds = toNumber(expiresIn);
	const lifetime = seconds === undefined || !Number.isFinite(seconds) ? DEFAULT_TOKEN_LIFETIME_MS : seconds * 1000;
	const wanted = lifetime - skewMs;
	const clamped = Math.min(MAX_TOKEN_LIFETIME_MS, Math.max(MIN_TOKEN_LIFETIME_MS, wanted));
	if (seconds === undefined || clamped !== wanted) {
		ctx.logger.warn("token response expires_in out of range; lifetime clamped", {
			provider,
			expiresIn: typeof expiresIn === "number" ? expiresIn : typeof expiresIn,
			lifetimeMs: clamped,
		});
	}
	return ctx.clock.now() + clamped;
}

export interface RefreshTokenGrant {
	/** Provider id, for messages. */
	provider: string;
	tokenUrl: string;
	clientId: string;
	/** Public "installed app" secret, for providers that ship one (Google). */
	clientSecret?: string;
	/** @default "form" */
	encoding?: "json" | "form";
	headers?: Record<string, string>;
	/** Subtracted from `now + expires_in` so a token is never used right at its expiry. @default 0 */
	expirySkewMs?: number;
	/** The provider must return a new refresh token every time (rotation). @default false */
	requireNewRefreshToken?: boolean;
}

/**
 * The standard OAuth2 `refresh_token` grant most providers speak: posts the grant, requires
 * `access_token`, keeps the old refresh token when none comes back (unless rotation is required), and
 * computes `expires` with the skew through `tokenExpiry` (clamped, never in the past). Provider-specific identity fields are the caller's job.
 * @throws OAuthRefreshError (definitive for a dead grant) — see `requestOAuthToken`.
 */
export async function refreshTokenGrant(
	credential: { refresh: string; access?: string },
	ctx: PluginContext,
	grant: RefreshTokenGrant,
): Promise<{ access: string; refresh: string; expires: number; body: Record<string, unknown> }> {
	const body = await requestOAuthToken(
		{
			provider: grant.provider,
			url: grant.tokenUrl,
			encoding: grant.encoding ?? "form",
			body: {
				grant_type: "refresh_token",
				refresh_token: credential.refresh,
				client_id: grant.clientId,
				...(grant.clientSecret ? { client_secret: grant.clientSecret } : {}),
			},
			...(grant.headers ? { headers: grant.headers } : {}),
			...(credential.access ? { secrets: [credential.access] } : {}),
		},
		ctx,
	);
	// expires_in is not required: the grant is already consumed, and `tokenExpiry` copes with a bad one.
	requireTokenFields(
		grant.provider,
		body,
		grant.requireNewRefreshToken ? ["access_token", "refresh_token"] : ["access_token"],
	);
	const rotated = typeof body.refresh_token === "string" && body.refresh_token !== "" ? body.refresh_token : undefined;
	return {
		access: body.access_token as string,
		refresh: rotated ?? credential.refresh,
		expires: tokenExpiry(ctx, grant.provider, body.expires_in, grant.expirySkewMs ?? 0),
		body,
	};
}

/**
 * The JSON "API key" that Copilot / Gemini CLI / Antigravity clients read (`token` + identity). The refresh token is left out unless asked for: callers need a bearer, not the
 * long-lived secret.
 */
export function jsonApiKeyBlob(
	credential: {
		access: string;
		refresh: string;
		expires: number;
		apiEndpoint?: string;
		enterpriseUrl?: string;
		projectId?: string;
		email?: string;
		accountId?: string;
	},
	options: { includeRefreshToken?: boolean } = {},
): string {
	return JSON.stringify({
		apiEndpoint: credential.apiEndpoint,
		token: credential.access,
		enterpriseUrl: credential.enterpriseUrl,
		projectId: credential.projectId,
		refreshToken: options.includeRefreshToken ? credential.refresh : undefined,
		expiresAt: credential.expires,
		email: credential.email,
		accountId: credential.accountId,
	});
}
