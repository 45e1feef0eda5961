import {
	AuthpoolError,
	type OAuthCredential,
	type OAuthPlugin,
	type OAuthRefreshResult,
	type PluginContext,
	requestOAuthToken,
	requireTokenFields,
	toNumber,
} from "@authpool/core";

/** Google issues tokens for ~1 h; treat them as stale 5 min early so a request never races expiry. */
export const GOOGLE_EXPIRY_SKEW_MS = 5 * 60 * 1000;

/** What the Google refresh needs to know. */
export interface GoogleOAuthConfig {
	provider: string;
	tokenUrl: string;
	clientId: string;
	clientSecret: string;
	/** Message of the error thrown when the credential has no projectId. */
	missingProjectMessage: string;
}

/**
 * Refresh a Google (Code Assist) OAuth credential: form-encoded `refresh_token` grant with client id
 * and secret. Google normally keeps the refresh token, so the old one is reused when none comes back.
 * @throws AuthpoolError `INVALID_INPUT` when the credential has no projectId (not a dead grant: the row
 *   must not be disabled for it).
 * @throws OAuthRefreshError from the token endpoint (`definitive` for invalid_grant / 401 / 403).
 */
export async function refreshGoogleOAuth(
	config: GoogleOAuthConfig,
	credential: OAuthCredential,
	ctx: PluginContext,
): Promise<OAuthRefreshResult> {
	const projectId = typeof credential.projectId === "string" ? credential.projectId.trim() : "";
	if (!projectId) {
		throw new AuthpoolError("INVALID_INPUT", config.missingProjectMessage, { details: { provider: config.provider } });
	}
	const body = await requestOAuthToken(
		{
			provider: config.provider,
			url: config.tokenUrl,
			encoding: "form",
			body: {
				client_id: config.clientId,
				client_secret: config.clientSecret,
				refresh_token: credential.refresh,
				grant_type: "refresh_token",
			},
		},
		ctx,
	);
	requireTokenFields(config.provider, body, ["access_token", "expires_in"]);
	const expiresInSeconds = toNumber(body.expires_in) ?? 0;
	const rotated = typeof body.refresh_token === "string" && body.refresh_token !== "" ? body.refresh_token : undefined;
	return {
		access: body.access_token as string,
		refresh: rotated ?? credential.refresh,
		expires: ctx.clock.now() + expiresInSeconds * 1000 - GOOGLE_EXPIRY_SKEW_MS,
		projectId,
	};
}

/**
 * The JSON "API key" Code Assist / Copilot clients read (`token` + identity). The refresh token is only
 * included when asked for: most callers need a bearer, not the long-lived secret.
 */
export function googleApiKeyBlob(credential: OAuthCredential, includeRefreshToken: boolean): string {
	return JSON.stringify({
		apiEndpoint: credential.apiEndpoint,
		token: credential.access,
		enterpriseUrl: credential.enterpriseUrl,
		projectId: credential.projectId,
		refreshToken: includeRefreshToken ? credential.refresh : undefined,
		expiresAt: credential.expires,
		email: credential.email,
		accountId: credential.accountId,
	});
}

/** The `oauth` part of the Gemini CLI plugin. */
export function createGeminiCliOAuth(config: {
	tokenUrl: string;
	clientId: string;
	clientSecret: string;
	includeRefreshTokenInApiKey: boolean;
}): OAuthPlugin {
	const googleConfig: GoogleOAuthConfig = {
		provider: "google-gemini-cli",
		tokenUrl: config.tokenUrl,
		clientId: config.clientId,
		clientSecret: config.clientSecret,
		missingProjectMessage: "Google Cloud credentials missing projectId",
	};
	return {
		rotatesRefreshToken: false,
		refresh: (credential, ctx) => refreshGoogleOAuth(googleConfig, credential, ctx),
		toApiKey: (credential) => googleApiKeyBlob(credential, config.includeRefreshTokenInApiKey),
	};
}
