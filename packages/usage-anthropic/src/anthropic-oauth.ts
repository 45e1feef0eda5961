import {
	AuthpoolError,
	createPkcePair,
	isRecord,
	type OAuthCredential,
	type OAuthLoginCallbacks,
	type OAuthPlugin,
	OAuthRefreshError,
	type OAuthRefreshResult,
	type PluginContext,
	parseAuthorizationInput,
	requestOAuthToken,
	requireTokenFields,
	toNumber,
} from "@authpool/core";

/** Every URL the Anthropic plugin calls. */
export interface AnthropicEndpoints {
	/** @default "https://api.anthropic.com/v1/oauth/token" */
	tokenUrl: string;
	/** @default "https://api.anthropic.com/api/oauth" */
	usageBaseUrl: string;
	/** Identity fallback after a refresh. @default "https://api.anthropic.com/api/claude_cli/bootstrap?entrypoint=cli&model=claude-opus-4-8" */
	bootstrapUrl: string;
	/** @default "https://claude.ai/oauth/authorize" */
	authorizeUrl: string;
	/** Redirect registered for the public client. @default "http://localhost:54545/callback" */
	redirectUri: string;
}

export const DEFAULT_ANTHROPIC_ENDPOINTS: Readonly<AnthropicEndpoints> = {
	tokenUrl: "https://api.anthropic.com/v1/oauth/token",
	usageBaseUrl: "https://api.anthropic.com/api/oauth",
	bootstrapUrl: "https://api.anthropic.com/api/claude_cli/bootstrap?entrypoint=cli&model=claude-opus-4-8",
	authorizeUrl: "https://claude.ai/oauth/authorize",
	redirectUri: "http://localhost:54545/callback",
};

/** Claude Code's public (installed-app) OAuth client id; not a secret. */
export const DEFAULT_ANTHROPIC_CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";

const SCOPES =
	"org:create_api_key user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload";
const EXPIRY_SKEW_MS = 5 * 60_000;
const REFRESH_TIMEOUT_MS = 30_000;

export interface AnthropicOAuthOptions {
	endpoints: AnthropicEndpoints;
	clientId: string;
}

function text(value: unknown): string | undefined {
	return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

/**
 * Run `task` with the caller's signal plus our own deadline; our deadline surfaces as a transient
 * `OAuthRefreshError`, the caller's abort as is.
 */
async function withDeadline<T>(ctx: PluginContext, timeoutMs: number, task: (ctx: PluginContext) => Promise<T>) {
	const controller = new AbortController();
	const onAbort = () => controller.abort(ctx.signal.reason);
	if (ctx.signal.aborted) controller.abort(ctx.signal.reason);
	else ctx.signal.addEventListener("abort", onAbort, { once: true });
	const timer = setTimeout(() => controller.abort(new Error("timeout")), timeoutMs);
	timer.unref?.();
	try {
		return await task({ ...ctx, signal: controller.signal });
	} catch (error) {
		if (controller.signal.aborted && !ctx.signal.aborted) {
			throw new OAuthRefreshError(`anthropic token request timed out after ${timeoutMs} ms`, {
				provider: "anthropic",
				definitive: false,
			});
		}
		throw error;
	} finally {
		clearTimeout(timer);
		ctx.signal.removeEventListener("abort", onAbort);
	}
}

/** Account uuid and email from Claude's bootstrap endpoint; `{}` on any failure (never fatal). */
async function bootstrapIdentity(
	url: string,
	access: string,
	ctx: PluginContext,
): Promise<{ accountId?: string; email?: string }> {
	try {
		const response = await ctx.fetch(url, {
			method: "GET",
			headers: {
				accept: "application/json",
				authorization: `Bearer ${access}`,
				"anthropic-beta": "oauth-2025-04-20",
				"user-agent": "claude-code/2.1.165",
			},
			signal: ctx.signal,
		});
		if (!response.ok) {
			void response.body?.cancel().catch(() => {});
			return {};
		}
		const body: unknown = await response.json();
		const account = isRecord(body) && isRecord(body.oauth_account) ? body.oauth_account : undefined;
		if (!account) return {};
		const accountId = text(account.account_uuid);
		const email = text(account.account_email);
		return { ...(accountId ? { accountId } : {}), ...(email ? { email } : {}) };
	} catch {
		return {};
	}
}

/** Token response → credential fields: `expires = now + expires_in·1000 − 5 min`, identity from `account`. */
async function toCredential(
	body: Record<string, unknown>,
	previousRefresh: string | undefined,
	options: AnthropicOAuthOptions,
	ctx: PluginContext,
): Promise<OAuthRefreshResult> {
	requireTokenFields("anthropic", body, ["access_token", "expires_in"]);
	const access = body.access_token as string;
	const expiresIn = toNumber(body.expires_in) ?? 0;
	const refresh = text(body.refresh_token) ?? previousRefresh;
	const account = isRecord(body.account) ? body.account : undefined;
	let accountId = text(account?.uuid);
	let email = text(account?.email_address);
	if (!accountId || !email) {
		const fallback = await bootstrapIdentity(options.endpoints.bootstrapUrl, access, ctx);
		accountId ??= fallback.accountId;
		email ??= fallback.email;
	}
	return {
		access,
		...(refresh ? { refresh } : {}),
		expires: ctx.clock.now() + expiresIn * 1000 - EXPIRY_SKEW_MS,
		...(accountId ? { accountId } : {}),
		...(email ? { email } : {}),
	};
}

const TOKEN_HEADERS = {
	"anthropic-beta": "oauth-2025-04-20",
	"user-agent": "anthropic-sdk-typescript/0.94.0 userOAuthProvider",
};

/** Refresh the Claude OAuth token (JSON body, rotating refresh token). */
export async function refreshAnthropicToken(
	credential: OAuthCredential,
	ctx: PluginContext,
	options: AnthropicOAuthOptions,
): Promise<OAuthRefreshResult> {
	return withDeadline(ctx, REFRESH_TIMEOUT_MS, async (bounded) => {
		const body = await requestOAuthToken(
			{
				provider: "anthropic",
				url: options.endpoints.tokenUrl,
				encoding: "json",
				body: { grant_type: "refresh_token", client_id: options.clientId, refresh_token: credential.refresh },
				headers: TOKEN_HEADERS,
			},
			bounded,
		);
		return toCredential(body, credential.refresh, options, bounded);
	});
}

/**
 * Paste-code PKCE login: show the authorize URL, ask for the code (`code#state` or the redirect
 * URL), exchange it. Requires `callbacks.onPrompt`.
 */
export async function loginAnthropic(
	callbacks: OAuthLoginCallbacks,
	ctx: PluginContext,
	options: AnthropicOAuthOptions,
): Promise<Omit<OAuthCredential, "type">> {
	if (!callbacks.onPrompt) {
		throw new AuthpoolError("INVALID_INPUT", "anthropic login needs an onPrompt callback to read the pasted code");
	}
	const pkce = createPkcePair(96);
	const url = new URL(options.endpoints.authorizeUrl);
	url.searchParams.set("code", "true");
	url.searchParams.set("client_id", options.clientId);
	url.searchParams.set("response_type", "code");
	url.searchParams.set("redirect_uri", options.endpoints.redirectUri);
	url.searchParams.set("scope", SCOPES);
	url.searchParams.set("code_challenge", pkce.challenge);
	url.searchParams.set("code_challenge_method", "S256");
	url.searchParams.set("state", pkce.state);
	callbacks.onAuth({
		url: url.toString(),
		instructions: "Sign in, then paste the authorization code (or the full redirect URL).",
	});
	const input = await callbacks.onPrompt({ message: "Paste the authorization code (or full redirect URL):" });
	const { code, state } = parseAuthorizationInput(input);
	if (!code) throw new AuthpoolError("INVALID_INPUT", "anthropic login: no authorization code was entered");
	if (state !== undefined && state !== pkce.state) {
		throw new AuthpoolError("INVALID_INPUT", "anthropic login: the pasted code belongs to another login attempt");
	}
	callbacks.onProgress?.("Exchanging the authorization code");
	const body = await requestOAuthToken(
		{
			provider: "anthropic",
			url: options.endpoints.tokenUrl,
			encoding: "json",
			body: {
				grant_type: "authorization_code",
				client_id: options.clientId,
				code,
				state: state ?? pkce.state,
				redirect_uri: options.endpoints.redirectUri,
				code_verifier: pkce.verifier,
			},
			headers: TOKEN_HEADERS,
		},
		ctx,
	);
	requireTokenFields("anthropic", body, ["refresh_token"]);
	const result = await toCredential(body, undefined, options, ctx);
	const { refresh, ...rest } = result;
	return { ...rest, refresh: refresh as string };
}

/** The `oauth` part of the Anthropic plugin. */
export function createAnthropicOAuth(options: AnthropicOAuthOptions): OAuthPlugin {
	return {
		rotatesRefreshToken: true,
		refresh: (credential, ctx) => refreshAnthropicToken(credential, ctx, options),
		login: (callbacks, ctx) => loginAnthropic(callbacks, ctx, options),
	};
}
