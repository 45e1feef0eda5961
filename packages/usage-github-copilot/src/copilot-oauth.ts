import {
	AbortedError,
	AuthpoolError,
	isRecord,
	jsonApiKeyBlob,
	type OAuthCredential,
	type OAuthLoginCallbacks,
	type OAuthLoginResult,
	type OAuthPlugin,
	type OAuthRefreshResult,
	type PluginContext,
	sleep,
	toNumber,
} from "@authpool/core";
import type { PollWait } from "./copilot-options";

/** A GitHub OAuth token does not expire; ten years keeps the pool from ever trying to refresh it. */
export const COPILOT_TOKEN_LIFETIME_MS = 10 * 365 * 24 * 60 * 60 * 1000;

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
// GitHub's documented default poll interval and its slow_down increment.
const DEFAULT_INTERVAL_S = 5;
const SLOW_DOWN_S = 5;
const DEFAULT_DEVICE_LIFETIME_S = 900;
const MAX_POLLS = 1000;

/**
 * Copilot "refresh": the stored GitHub token is both access and refresh and never expires, so this makes
 * no network call and just re-stamps the expiry.
 */
export function refreshCopilotCredential(credential: OAuthCredential, ctx: PluginContext): OAuthRefreshResult {
	const result: OAuthRefreshResult = {
		access: credential.refresh,
		refresh: credential.refresh,
		expires: ctx.clock.now() + COPILOT_TOKEN_LIFETIME_MS,
	};
	if (credential.enterpriseUrl !== undefined) result.enterpriseUrl = credential.enterpriseUrl;
	if (credential.apiEndpoint !== undefined) result.apiEndpoint = credential.apiEndpoint;
	return result;
}

/** Normalise what the user typed as an Enterprise host (`https://ghe.example.com/` → `ghe.example.com`). */
function enterpriseDomain(input: string): string | undefined {
	const text = input.trim();
	if (!text) return undefined;
	try {
		return new URL(text.includes("://") ? text : `https://${text}`).hostname;
	} catch {
		throw new AuthpoolError("INVALID_INPUT", "github-copilot login: not a valid GitHub Enterprise domain");
	}
}

async function postJson(
	ctx: PluginContext,
	url: string,
	body: Record<string, string>,
): Promise<{ status: number; body: unknown }> {
	let response: Response;
	try {
		response = await ctx.fetch(url, {
			method: "POST",
			headers: { Accept: "application/json", "Content-Type": "application/json", "User-Agent": "opencode/1.3.15" },
			body: JSON.stringify(body),
			signal: ctx.signal,
		});
	} catch (error) {
		if (ctx.signal.aborted) throw new AbortedError("login aborted");
		throw new AuthpoolError("UPSTREAM_ERROR", "github-copilot login: network error", { cause: error });
	}
	const text = await response.text().catch(() => "");
	let parsed: unknown;
	try {
		parsed = text ? JSON.parse(text) : undefined;
	} catch {
		parsed = undefined;
	}
	return { status: response.status, body: parsed };
}

async function getJsonOrUndefined(
	ctx: PluginContext,
	url: string,
	token: string,
): Promise<Record<string, unknown> | undefined> {
	try {
		const response = await ctx.fetch(url, {
			headers: { Accept: "application/json", Authorization: `Bearer ${token}`, "User-Agent": "opencode/1.3.15" },
			signal: ctx.signal,
		});
		if (!response.ok) return undefined;
		const body: unknown = await response.json();
		return isRecord(body) ? body : undefined;
	} catch {
		if (ctx.signal.aborted) throw new AbortedError("login aborted");
		return undefined;
	}
}

/** Where a device login talks to. */
export interface CopilotLoginConfig {
	clientId: string;
	githubBaseUrl: string;
	githubApiBaseUrl: string;
	pollWait?: PollWait;
}

/**
 * GitHub device-code login: optional Enterprise domain prompt, `/login/device/code`, show the code,
 * poll `/login/oauth/access_token` (`authorization_pending`, `slow_down`), then discover the Copilot API
 * endpoint and the GitHub login (best effort).
 * @throws AuthpoolError `UPSTREAM_ERROR` when GitHub refuses, the user denies, or the code expires.
 */
export async function loginCopilotWithDeviceCode(
	config: CopilotLoginConfig,
	callbacks: OAuthLoginCallbacks,
	ctx: PluginContext,
): Promise<OAuthLoginResult> {
	const domainInput = callbacks.onPrompt
		? await callbacks.onPrompt({
				message: "GitHub Enterprise domain (leave blank for github.com):",
				placeholder: "github.example.com",
				allowEmpty: true,
			})
		: "";
	const domain = enterpriseDomain(domainInput);
	const web = domain ? `https://${domain}` : config.githubBaseUrl;
	const api = domain ? `https://api.${domain}` : config.githubApiBaseUrl;
	const wait = config.pollWait ?? sleep;

	const device = await postJson(ctx, `${web}/login/device/code`, { client_id: config.clientId, scope: "read:user" });
	const deviceBody = isRecord(device.body) ? device.body : {};
	const deviceCode = typeof deviceBody.device_code === "string" ? deviceBody.device_code : undefined;
	const userCode = typeof deviceBody.user_code === "string" ? deviceBody.user_code : undefined;
	if (device.status >= 400 || !deviceCode || !userCode) {
		throw new AuthpoolError(
			"UPSTREAM_ERROR",
			`github-copilot login: device code request failed (HTTP ${device.status})`,
		);
	}
	const verificationUri =
		typeof deviceBody.verification_uri === "string" ? deviceBody.verification_uri : `${web}/login/device`;
	callbacks.onAuth({ url: verificationUri, instructions: `Enter code: ${userCode}` });

	let intervalS = toNumber(deviceBody.interval) ?? DEFAULT_INTERVAL_S;
	const deadline = ctx.clock.now() + (toNumber(deviceBody.expires_in) ?? DEFAULT_DEVICE_LIFETIME_S) * 1000;
	let token: string | undefined;
	for (let poll = 0; poll < MAX_POLLS && ctx.clock.now() < deadline; poll++) {
		await wait(intervalS * 1000, ctx.signal);
		const answer = await postJson(ctx, `${web}/login/oauth/access_token`, {
			client_id: config.clientId,
			device_code: deviceCode,
			grant_type: DEVICE_GRANT,
		});
		const body = isRecord(answer.body) ? answer.body : {};
		if (typeof body.access_token === "string" && body.access_token) {
			token = body.access_token;
			break;
		}
		const error = typeof body.error === "string" ? body.error : undefined;
		if (error === "authorization_pending") continue;
		if (error === "slow_down") {
			intervalS = toNumber(body.interval) ?? intervalS + SLOW_DOWN_S;
			continue;
		}
		throw new AuthpoolError(
			"UPSTREAM_ERROR",
			`github-copilot login failed: ${error ?? `HTTP ${answer.status}`}`,
			error ? { details: { errorCode: error } } : {},
		);
	}
	if (!token) throw new AuthpoolError("TIMEOUT", "github-copilot login: the device code expired before approval");
	callbacks.onProgress?.("Authorized; discovering the Copilot endpoint");

	const result: Omit<OAuthCredential, "type"> = {
		access: token,
		refresh: token,
		expires: ctx.clock.now() + COPILOT_TOKEN_LIFETIME_MS,
	};
	if (domain) result.enterpriseUrl = domain;
	const copilotUser = await getJsonOrUndefined(ctx, `${api}/copilot_internal/user`, token);
	const endpoints = copilotUser && isRecord(copilotUser.endpoints) ? copilotUser.endpoints : undefined;
	if (endpoints && typeof endpoints.api === "string" && endpoints.api) result.apiEndpoint = endpoints.api;
	const user = await getJsonOrUndefined(ctx, `${api}/user`, token);
	if (user && typeof user.login === "string" && user.login) result.accountId = user.login;
	if (user && typeof user.email === "string" && user.email) result.email = user.email;
	return result;
}

/** The `oauth` part of the Copilot plugin. */
export function createCopilotOAuth(config: CopilotLoginConfig & { includeRefreshTokenInApiKey: boolean }): OAuthPlugin {
	return {
		rotatesRefreshToken: false,
		refresh: async (credential, ctx) => refreshCopilotCredential(credential, ctx),
		toApiKey: (credential) => jsonApiKeyBlob(credential, { includeRefreshToken: config.includeRefreshTokenInApiKey }),
		login: (callbacks, ctx) => loginCopilotWithDeviceCode(config, callbacks, ctx),
	};
}
