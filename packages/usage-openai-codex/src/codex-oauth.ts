import {
	AuthpoolError,
	createPkcePair,
	jwtIdentity,
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
const REFRESH_TIMEOUT_MS = 15_000;

export interface CodexOAuthOptions {
	endpoints: CodexEndpoints;
	clientId: string;
	/** `originator` parameter of the authorize URL. */
	originator: string;
}

/** Caller's signal plus our deadline; our deadline becomes a transient `OAuthRefreshError`. */
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
			throw new OAuthRefreshError(`openai-codex token request timed out after ${timeoutMs} ms`, {
				provider: "openai-codex",
				definitive: false,
			});
		}
		throw error;
	} finally {
		clearTimeout(timer);
		ctx.signal.removeEventListener("abort", onAbort);
	}
}

/**
 * Token response → credential: access, refresh and numeric `expires_in` are required;
 * `expires = now + expires_in·1000` (no skew); identity from the access token's claims.
 */
function toCredential(body: Record<string, unknown>, ctx: PluginContext): OAuthRefreshResult & { refresh: string } {
	requireTokenFields("openai-codex", body, ["access_token", "refresh_token", "expires_in"]);
	const expiresIn = toNumber(body.expires_in);
	if (expiresIn === undefined) {
		throw new OAuthRefreshError("openai-codex token refresh failed: expires_in is not a number", {
			provider: "openai-codex",
			definitive: false,
		});
	}
	const access = body.access_token as string;
	const { accountId, email } = jwtIdentity(access);
	return {
		access,
		refresh: body.refresh_token as string,
		expires: ctx.clock.now() + expiresIn * 1000,
		...(accountId ? { accountId } : {}),
		...(email ? { email } : {}),
	};
}

/** Refresh a ChatGPT/Codex login (form body; every response carries a new refresh token). */
export async function refreshCodexToken(
	credential: OAuthCredential,
	ctx: PluginContext,
	options: CodexOAuthOptions,
): Promise<OAuthRefreshResult> {
	return withDeadline(ctx, REFRESH_TIMEOUT_MS, async (bounded) => {
		const body = await requestOAuthToken(
			{
				provider: "openai-codex",
				url: options.endpoints.tokenUrl,
				encoding: "form",
				body: { grant_type: "refresh_token", refresh_token: credential.refresh, client_id: options.clientId },
			},
			bounded,
		);
		return toCredential(body, bounded);
	});
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
	if (!callbacks.onPrompt) {
		throw new AuthpoolError("INVALID_INPUT", "openai-codex login needs an onPrompt callback to read the pasted code");
	}
	const pkce = createPkcePair(64);
	const url = new URL(options.endpoints.authorizeUrl);
	url.searchParams.set("response_type", "code");
	url.searchParams.set("client_id", options.clientId);
	url.searchParams.set("redirect_uri", options.endpoints.redirectUri);
	url.searchParams.set("scope", SCOPES);
	url.searchParams.set("code_challenge", pkce.challenge);
	url.searchParams.set("code_challenge_method", "S256");
	url.searchParams.set("state", pkce.state);
	url.searchParams.set("id_token_add_organizations", "true");
	url.searchParams.set("codex_cli_simplified_flow", "true");
	url.searchParams.set("originator", options.originator);
	callbacks.onAuth({
		url: url.toString(),
		instructions: "Sign in, then paste the full redirect URL (or the authorization code).",
	});
	const input = await callbacks.onPrompt({ message: "Paste the authorization code (or full redirect URL):" });
	const { code, state } = parseAuthorizationInput(input);
	if (!code) throw new AuthpoolError("INVALID_INPUT", "openai-codex login: no authorization code was entered");
	if (state !== undefined && state !== pkce.state) {
		throw new AuthpoolError("INVALID_INPUT", "openai-codex login: the pasted code belongs to another login attempt");
	}
	callbacks.onProgress?.("Exchanging the authorization code");
	const body = await requestOAuthToken(
		{
			provider: "openai-codex",
			url: options.endpoints.tokenUrl,
			encoding: "form",
			body: {
				grant_type: "authorization_code",
				client_id: options.clientId,
				code,
				code_verifier: pkce.verifier,
				redirect_uri: options.endpoints.redirectUri,
			},
		},
		ctx,
	);
	const credential = toCredential(body, ctx);
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
