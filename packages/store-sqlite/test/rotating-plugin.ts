/**
 * Test helper: a provider plugin whose OAuth refresh talks to `rotating-token-server`.
 *
 * AuthStorage refreshes when `now + 60 s >= expires`. Our access tokens live 2 s, so the plugin
 * stores `expires` shifted by {@link EXPIRY_SHIFT_MS}: the pool refreshes 1 s before the real
 * expiry, and `realExpiry(credential)` recovers the server's deadline.
 */
import { type OAuthCredential, OAuthRefreshError, type ProviderPlugin } from "@authpool/core";

export const PROVIDER = "rotating";
export const EXPIRY_SHIFT_MS = 59_000;

export function realExpiry(credential: OAuthCredential): number {
	return credential.expires - EXPIRY_SHIFT_MS;
}

/** The credential row for a server grant. */
export function grantCredential(grant: { account: string; access: string; refresh: string; expiresAt: number }) {
	return {
		type: "oauth" as const,
		access: grant.access,
		refresh: grant.refresh,
		expires: grant.expiresAt + EXPIRY_SHIFT_MS,
		accountId: grant.account,
	};
}

export function rotatingPlugin(serverUrl: string, worker: string): ProviderPlugin {
	return {
		id: PROVIDER,
		oauth: {
			rotatesRefreshToken: true,
			async refresh(credential, ctx) {
				const response = await ctx.fetch(`${serverUrl}/token`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({ refresh: credential.refresh, worker }),
					signal: ctx.signal,
				});
				const body = (await response.json()) as Record<string, unknown>;
				if (response.status === 400 && body.error === "invalid_grant") {
					throw new OAuthRefreshError("refresh token rejected", {
						provider: PROVIDER,
						definitive: true,
						status: 400,
						errorCode: "invalid_grant",
					});
				}
				if (!response.ok) {
					throw new OAuthRefreshError("token endpoint failed", {
						provider: PROVIDER,
						definitive: false,
						status: response.status,
					});
				}
				return {
					access: String(body.access),
					refresh: String(body.refresh),
					expires: Number(body.expiresAt) + EXPIRY_SHIFT_MS,
				};
			},
		},
	};
}
