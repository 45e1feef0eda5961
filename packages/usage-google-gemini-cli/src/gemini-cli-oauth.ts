import { AuthpoolError, jsonApiKeyBlob, type OAuthPlugin, refreshTokenGrant } from "@authpool/core";

/** Google issues tokens for ~1 h; treat them as stale 5 min early so a request never races expiry. */
const EXPIRY_SKEW_MS = 5 * 60 * 1000;

/**
 * The `oauth` part of the Gemini CLI plugin: form-encoded `refresh_token` grant with the public client id and
 * secret; Google normally keeps the refresh token, so the old one is reused when none comes back.
 * A credential without a projectId is an `INVALID_INPUT` error (not a dead grant: the row must not be
 * disabled for it). `toApiKey` gives the JSON blob Code Assist clients read.
 */
export function createGeminiCliOAuth(config: {
	tokenUrl: string;
	clientId: string;
	clientSecret: string;
	includeRefreshTokenInApiKey: boolean;
}): OAuthPlugin {
	return {
		rotatesRefreshToken: false,
		async refresh(credential, ctx) {
			const projectId = typeof credential.projectId === "string" ? credential.projectId.trim() : "";
			if (!projectId) {
				throw new AuthpoolError("INVALID_INPUT", "Google Cloud credentials missing projectId", {
					details: { provider: "google-gemini-cli" },
				});
			}
			const { access, refresh, expires } = await refreshTokenGrant(credential, ctx, {
				provider: "google-gemini-cli",
				tokenUrl: config.tokenUrl,
				clientId: config.clientId,
				clientSecret: config.clientSecret,
				expirySkewMs: EXPIRY_SKEW_MS,
			});
			return { access, refresh, expires, projectId };
		},
		toApiKey: (credential) => jsonApiKeyBlob(credential, { includeRefreshToken: config.includeRefreshTokenInApiKey }),
	};
}
