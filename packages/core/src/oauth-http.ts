/**
 * Token-endpoint plumbing shared by provider plugins: sends the refresh request, classifies failures
 * into `OAuthRefreshError` (definitive vs transient) and never puts token bytes in a message.
 */
import { isDefinitiveOAuthFailureMessage } from "./classify";
import { OAuthRefreshError } from "./errors";
import type { PluginContext } from "./plugin";
import { redactString } from "./redact";
import { isRecord } from "./usage/report";

export interface OAuthTokenRequest {
	/** Provider id, for messages. */
	provider: string;
	url: string;
	body: Record<string, string>;
	/** `form` = application/x-www-form-urlencoded. */
	encoding: "json" | "form";
	headers?: Record<string, string>;
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
	let response: Response;
	try {
		response = await ctx.fetch(request.url, { method: "POST", headers, body, signal: ctx.signal });
	} catch (error) {
		if (ctx.signal.aborted) throw error;
		const name = error instanceof Error ? error.name : "Error";
		throw new OAuthRefreshError(`${request.provider} token refresh failed: network error (${name})`, {
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
		throw new OAuthRefreshError(
			`${request.provider} token refresh failed: HTTP ${response.status}${detail}${definitive ? "" : " (transient)"}`,
			{ provider: request.provider, definitive, status: response.status, ...(code ? { errorCode: code } : {}) },
		);
	}
	if (!isRecord(parsed)) {
		throw new OAuthRefreshError(`${request.provider} token refresh failed: response is not a JSON object`, {
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
		const ok =
			field === "expires_in"
				? typeof value === "number" || (typeof value === "string" && value !== "")
				: typeof value === "string" && value !== "";
		if (!ok) {
			throw new OAuthRefreshError(`${provider} token refresh failed: response missing ${field}`, {
				provider,
				definitive: false,
			});
		}
	}
}
