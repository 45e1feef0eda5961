/**
 * Token-endpoint plumbing shared by provider plugins: sends the refresh request, classifies failures
 * into `OAuthRefreshError` (definitive vs transient) and never puts token bytes in a message.
 */

import { OAuthRefreshError } from "../errors";
import type { PluginContext } from "../plugin";
import { isRecord, toNumber } from "../usage/report";
import { redactString } from "../util/redact";
import { isDefinitiveOAuthFailureMessage } from "./classify";

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
}

const DEFINITIVE_CODES = new Set(["invalid_grant", "invalid_token", "unauthorized_client", "invalid_client"]);

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
 * Classify a token-endpoint HTTP failure. Definitive: an OAuth error code that kills the grant,
 * revoked/expired refresh token wording, or 401/403 (unless the body is a proxy challenge).
 */
export function classifyTokenEndpointFailure(status: number, code?: string, description?: string): boolean {
	const text = `${code ?? ""} ${description ?? ""}`;
	if (code && DEFINITIVE_CODES.has(code)) return true;
	if (/cloudflare|captcha/i.test(text)) return false;
	if (status === 401 || status === 403) return true;
	if (status === 408 || status === 429 || status >= 500) return false;
	return isDefinitiveOAuthFailureMessage(text);
}

/**
 * POST a token request and return the parsed JSON object. Throws `OAuthRefreshError`:
 * `definitive: true` for a dead grant, `false` for network errors, 5xx, 429, timeouts and malformed bodies.
 * An abort of `ctx.signal` is re-thrown as is.
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
	let response: Response;
	try {
		response = await ctx.fetch(request.url, { method: "POST", headers, body, signal: ctx.signal });
	} catch (error) {
		if (ctx.signal.aborted) throw error;
		const name = error instanceof Error ? error.name : "Error";
		throw new OAuthRefreshError(`${what}: network error (${name})`, {
			provider: request.provider,
			definitive: false,
			cause: error instanceof Error ? new Error(redactString(error.message)) : undefined,
		});
	}
	const text = await response.text().catch(() => "");
	let parsed: unknown;
	try {
		parsed = text ? JSON.parse(text) : undefined;
	} catch {
		parsed = undefined;
	}
	if (!response.ok) {
		const { code, description } = oauthErrorCode(parsed);
		const definitive = classifyTokenEndpointFailure(response.status, code, description);
		const detail = code ? ` (${code})` : "";
		throw new OAuthRefreshError(`${what}: HTTP ${response.status}${detail}${definitive ? "" : " (transient)"}`, {
			provider: request.provider,
			definitive,
			status: response.status,
			...(code ? { errorCode: code } : {}),
		});
	}
	if (!isRecord(parsed)) {
		throw new OAuthRefreshError(`${what}: response is not a JSON object`, {
			provider: request.provider,
			definitive: false,
			status: response.status,
		});
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
 * `access_token` + `expires_in`, keeps the old refresh token when none comes back (unless rotation is
 * required), and computes `expires` with the skew. Provider-specific identity fields are the caller's job.
 * @throws OAuthRefreshError (definitive for a dead grant) — see `requestOAuthToken`.
 */
export async function refreshTokenGrant(
	credential: { refresh: string },
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
		},
		ctx,
	);
	requireTokenFields(
		grant.provider,
		body,
		grant.requireNewRefreshToken ? ["access_token", "refresh_token", "expires_in"] : ["access_token", "expires_in"],
	);
	const rotated = typeof body.refresh_token === "string" && body.refresh_token !== "" ? body.refresh_token : undefined;
	return {
		access: body.access_token as string,
		refresh: rotated ?? credential.refresh,
		expires: ctx.clock.now() + toNumber(body.expires_in)! * 1000 - (grant.expirySkewMs ?? 0),
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
