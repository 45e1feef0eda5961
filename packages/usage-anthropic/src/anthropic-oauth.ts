import {
	isRecord,
	type OAuthCredential,
	type OAuthLoginCallbacks,
	type OAuthPlugin,
	type OAuthRefreshResult,
	type PluginContext,
	pasteCodeLogin,
	refreshTokenGrant,
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

export interface AnthropicOAuthOptions {
	endpoints: AnthropicEndpoints;
	clientId: string;
}

function text(value: unknown): string | undefined {
	return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
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

/** Identity from the token response's `account`, else from the bootstrap endpoint. */
async function identity(
	body: Record<string, unknown>,
	access: string,
	options: AnthropicOAuthOptions,
	ctx: PluginContext,
): Promise<{ accountId?: string; email?: string }> {
	const account = isRecord(body.account) ? body.account : undefined;
	let accountId = text(account?.uuid);
	let email = text(account?.email_address);
	if (!accountId || !email) {
		const fallback = await bootstrapIdentity(options.endpoints.bootstrapUrl, access, ctx);
		accountId ??= fallback.accountId;
		email ??= fallback.email;
	}
	return { ...(accountId ? { accountId } : {}), ...(email ? { email } : {}) };
}

const TOKEN_HEADERS = {
	"anthropic-beta": "oauth-2025-04-20",
	"user-agent": "anthropic-sdk-typescript/0.94.0 userOAuthProvider",
};

/**
 * Refresh the Claude OAuth token: JSON body, rotating refresh token (the old one is kept only if none comes
 * back), `expires = now + expires_in·1000 − 5 min`. The call is bounded by the pool's refresh timeout.
 */
export async function refreshAnthropicToken(
	credential: OAuthCredential,
	ctx: PluginContext,
	options: AnthropicOAuthOptions,
): Promise<OAuthRefreshResult> {
	const grant = await refreshTokenGrant(credential, ctx, {
		provider: "anthropic",
		tokenUrl: options.endpoints.tokenUrl,
		clientId: options.clientId,
		encoding: "json",
		headers: TOKEN_HEADERS,
		expirySkewMs: EXPIRY_SKEW_MS,
	});
	return {
		access: grant.access,
		refresh: grant.refresh,
		expires: grant.expires,
		...(await identity(grant.body, grant.access, options, ctx)),
	};
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
	const body = await pasteCodeLogin(
		{
			provider: "anthropic",
			authorizeUrl: options.endpoints.authorizeUrl,
			authorizeParams: { code: "true" },
			tokenUrl: options.endpoints.tokenUrl,
			clientId: options.clientId,
			redirectUri: options.endpoints.redirectUri,
			scope: SCOPES,
			encoding: "json",
			tokenHeaders: TOKEN_HEADERS,
			sendStateInExchange: true,
			verifierBytes: 96,
		},
		callbacks,
		ctx,
	);
	requireTokenFields("anthropic", body, ["access_token", "refresh_token", "expires_in"]);
	const access = body.access_token as string;
	return {
		access,
		refresh: body.refresh_token as string,
		expires: ctx.clock.now() + toNumber(body.expires_in)! * 1000 - EXPIRY_SKEW_MS,
		...(await identity(body, access, options, ctx)),
	};
}

/** The `oauth` part of the Anthropic plugin. */
export function createAnthropicOAuth(options: AnthropicOAuthOptions): OAuthPlugin {
	return {
		rotatesRefreshToken: true,
		refresh: (credential, ctx) => refreshAnthropicToken(credential, ctx, options),
		login: (callbacks, ctx) => loginAnthropic(callbacks, ctx, options),
	};
}
