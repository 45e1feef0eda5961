/**
 * Test helper: a provider plugin whose OAuth refresh talks to the fake provider's generic token
 * endpoint (`POST <base>/oauth/token`, rotating refresh tokens; a reused one is `invalid_grant`).
 */
import { OAuthRefreshError, type ProviderPlugin } from "@authpool/core";

export const OAUTH_PROVIDER = "fleet";
/** Plain API keys (no plugin needed) for the propagation cases. */
export const KEY_PROVIDER = "fleet-keys";

export function fleetPlugin(tokenUrl: string): ProviderPlugin {
	return {
		id: OAUTH_PROVIDER,
		oauth: {
			rotatesRefreshToken: true,
			async refresh(credential, ctx) {
				const response = await ctx.fetch(tokenUrl, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({ grant_type: "refresh_token", refresh_token: credential.refresh }),
					signal: ctx.signal,
				});
				const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
				if (response.status === 400 || response.status === 401) {
					throw new OAuthRefreshError("refresh token rejected", {
						provider: OAUTH_PROVIDER,
						definitive: true,
						status: response.status,
						errorCode: typeof body.error === "string" ? body.error : undefined,
					});
				}
				if (!response.ok) {
					throw new OAuthRefreshError("token endpoint failed", {
						provider: OAUTH_PROVIDER,
						definitive: false,
						status: response.status,
					});
				}
				return {
					access: String(body.access_token),
					refresh: String(body.refresh_token ?? credential.refresh),
					expires: Date.now() + Number(body.expires_in) * 1000,
				};
			},
		},
	};
}
