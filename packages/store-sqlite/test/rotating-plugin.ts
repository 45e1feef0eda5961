/**
 * Test helper: a provider plugin whose OAuth refresh talks to `rotating-token-server`. Access tokens
 * live ~2 s, so workers run AuthStorage with `refreshSkewMs: REFRESH_SKEW_MS` (refresh 1 s before expiry).
 */
import { OAuthRefreshError, type ProviderPlugin } from "@authpool/core";

export const PROVIDER = "rotating";
/** Skew the workers refresh with (the default 60 s would refresh 2 s tokens on every call). */
export const REFRESH_SKEW_MS = 1_000;

/** The credential row for a server grant. */
export function grantCredential(grant: { account: string; access: string; refresh: string; expiresAt: number }) {
	return {
		type: "oauth" as const,
		access: grant.access,
		refresh: grant.refresh,
		expires: grant.expiresAt,
		accountId: grant.account,
	};
}

/**
 * `onAnswer` is called the moment a rotated grant has been read off the wire (the start of the window in
 * which only this process holds the account's live refresh token).
 */
export function rotatingPlugin(
	serverUrl: string,
	worker: string,
	onAnswer?: (accountId: string | undefined) => void,
): ProviderPlugin {
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
				onAnswer?.(typeof credential.accountId === "string" ? credential.accountId : undefined);
				return {
					access: String(body.access),
					refresh: String(body.refresh),
					expires: Number(body.expiresAt),
				};
			},
		},
	};
}
