import {
	AuthpoolError,
	jwtIdentity,
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

/** Every URL the Codex plugin calls. */
export interface CodexEndpoints {
	/** @default "https://auth.openai.com/oauth/token" */
	tokenUrl: string;
	/** @default "https://chatgpt.com/backend-api" */
	usageBaseUrl: string;
	/** @default "https://auth.openai.com/oauth/authorize" */
	authorizeUrl: string;
	/** Fixed redirect registered for the public client. @default "http://localhost:1455/auth/callback" */
	redirectUri: string;
}

export const DEFAULT_CODEX_ENDPOINTS: Readonly<CodexEndpoints> = {
	tokenUrl: "https://auth.openai.com/oauth/token",
	usageBaseUrl: "https://chatgpt.com/backend-api",
	authorizeUrl: "https://auth.openai.com/oauth/authorize",
	redirectUri: "http://localhost:1455/auth/callback",
};

/** The Codex CLI's public (installed-app) OAuth client id; not a secret. */
export const DEFAULT_CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann";

const SCOPES = "openid profile email offline_access api.connectors.read api.connectors.invoke";

export interface CodexOAuthOptions {
	endpoints: CodexEndpoints;
	clientId: string;
	/** `originator` parameter of the authorize URL. */
	originator: string;
}

/** accountId and email from the access token's OpenAI claims. */
function claims(access: string): { accountId?: string; email?: string } {
	const { accountId, email } = jwtIdentity(access);
	return { ...(accountId ? { accountId } : {}), ...(email ? { email } : {}) };
}

/**
 * Refresh a ChatGPT/Codex login: form body; every response must carry a new refresh token;
 * `expires = now + expires_in·1000` (no skew); identity from the access token's claims.
 */
export async function refreshCodexToken(
	credential: OAuthCredential,
	ctx: PluginContext,
	options: CodexOAuthOptions,
): Promise<OAuthRefreshResult> {
	const grant = await refreshTokenGrant(credential, ctx, {
		provider: "openai-codex",
		tokenUrl: options.endpoints.tokenUrl,
		clientId: options.clientId,
		requireNewRefreshToken: true,
	});
	return { access: grant.access, refresh: grant.refresh, expires: grant.expires, ...claims(grant.access) };
}

/**
 * Paste-code PKCE login: show the authorize URL, read the pasted redirect URL (or code), exchange
 * it. Fails when the token carries no ChatGPT account id. Requires `callbacks.onPrompt`.
 */
export async function loginCodex(
	callbacks: OAuthLoginCallbacks,
	ctx: PluginContext,
	options: CodexOAuthOptions,
): Promise<Omit<OAuthCredential, "type">> {
	const body = await pasteCodeLogin(
		{
			provider: "openai-codex",
			authorizeUrl: options.endpoints.authorizeUrl,
			authorizeParams: {
				id_token_add_organizations: "true",
				codex_cli_simplified_flow: "true",
				originator: options.originator,
			},
			tokenUrl: options.endpoints.tokenUrl,
			clientId: options.clientId,
			redirectUri: options.endpoints.redirectUri,
			scope: SCOPES,
			encoding: "form",
			instructions: "Sign in, then paste the full redirect URL (or the authorization code).",
		},
		callbacks,
		ctx,
	);
	requireTokenFields("openai-codex", body, ["access_token", "refresh_token", "expires_in"]);
	const access = body.access_token as string;
	const credential = {
		access,
		refresh: body.refresh_token as string,
		expires: ctx.clock.now() + toNumber(body.expires_in)! * 1000,
		...claims(access),
	};
	if (!credential.accountId) {
		throw new AuthpoolError("INVALID_INPUT", "openai-codex login: the token carries no ChatGPT account id");
	}
	return credential;
}

/** The `oauth` part of the Codex plugin. */
export function createCodexOAuth(options: CodexOAuthOptions): OAuthPlugin {
	return {
		rotatesRefreshToken: true,
		refresh: (credential, ctx) => refreshCodexToken(credential, ctx, options),
		login: (callbacks, ctx) => loginCodex(callbacks, ctx, options),
	};
}
