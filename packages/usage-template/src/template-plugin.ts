/**
 * A complete, tested provider plugin for an imaginary provider "acme", as a starting point for third-party
 * `authpool-usage-<x>` packages. Copy this folder, rename, and replace the wire format.
 *
 * What a plugin provides (docs/provider-plugins.md): `envApiKeys`, `usage.fetchUsage` (never throws; `null` on failure),
 * optionally `usage.parseRateLimitHeaders`, a `ranking` strategy, and `oauth.refresh` (throw
 * `OAuthRefreshError` via `requestOAuthToken`, so the pool can tell a dead grant from a network blip).
 */
import type {
	CredentialRankingStrategy,
	OAuthCredential,
	OAuthRefreshResult,
	PluginContext,
	ProviderPlugin,
	UsageFetchContext,
	UsageFetchParams,
	UsageLimit,
	UsageReport,
} from "@authpool/core";
import {
	invalidOptions,
	isRecord,
	percentAmount,
	requestOAuthToken,
	requireTokenFields,
	statusFromUsedFraction,
	tokenExpiry,
	toNumber,
} from "@authpool/core";
import { z } from "zod";

/** Every URL the plugin calls, so tests can point them at a local server. */
export interface AcmeEndpoints {
	tokenUrl: string;
	apiBaseUrl: string;
}

export interface AcmePluginOptions {
	endpoints?: Partial<AcmeEndpoints>;
	clientId?: string;
}

const optionsSchema = z
	.object({
		endpoints: z.object({ tokenUrl: z.string().url(), apiBaseUrl: z.string().url() }).partial().optional(),
		clientId: z.string().min(1).optional(),
	})
	.strict();

/** Pure parser: payload → limits. Keep it pure so fixtures test it exactly. */
export function parseAcmeUsage(payload: unknown): UsageLimit[] {
	if (!isRecord(payload) || !Array.isArray(payload.windows)) return [];
	const limits: UsageLimit[] = [];
	for (const window of payload.windows) {
		if (!isRecord(window) || typeof window.name !== "string") continue;
		const used = toNumber(window.used);
		const limit = toNumber(window.limit);
		const percent = used !== undefined && limit ? (used / limit) * 100 : undefined;
		const amount = percentAmount(percent);
		const seconds = toNumber(window.seconds);
		const resetAt = toNumber(window.reset_at);
		limits.push({
			id: `acme:${window.name}`,
			label: `Acme ${window.name}`,
			scope: { provider: "acme", windowId: window.name, shared: true },
			window: {
				id: window.name,
				label: window.name,
				...(seconds ? { durationMs: seconds * 1000 } : {}),
				...(resetAt ? { resetsAt: resetAt * 1000 } : {}),
			},
			amount,
			status: statusFromUsedFraction(amount.usedFraction),
		});
	}
	return limits;
}

/** Rank by the daily window only; no secondary window. */
export const acmeRankingStrategy: CredentialRankingStrategy = {
	findWindowLimits: (report) => ({ primary: report.limits.find((l) => l.id === "acme:daily") }),
	windowDefaults: { primaryMs: 86_400_000, secondaryMs: 86_400_000 },
};

/**
 * Build the plugin.
 * @throws AuthpoolError `INVALID_OPTIONS` for malformed options.
 * @example
 * const storage = new AuthStorage(store, { providers: [createAcmePlugin()] });
 */
export function createAcmePlugin(options: AcmePluginOptions = {}): ProviderPlugin {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) throw invalidOptions("acme plugin", parsed.error.issues);
	const endpoints: AcmeEndpoints = {
		tokenUrl: "https://auth.acme.example/oauth/token",
		apiBaseUrl: "https://api.acme.example",
		...parsed.data.endpoints,
	};
	const clientId = parsed.data.clientId ?? "acme-public-client";
	return {
		id: "acme",
		name: "Acme",
		envApiKeys: ["ACME_API_KEY"],
		ranking: acmeRankingStrategy,
		usage: {
			supports: (params) => params.provider === "acme",
			async fetchUsage(params: UsageFetchParams, ctx: UsageFetchContext): Promise<UsageReport | null> {
				const token = params.credential.accessToken ?? params.credential.apiKey;
				if (!token) return null;
				try {
					const response = await ctx.fetch(`${params.baseUrl ?? endpoints.apiBaseUrl}/v1/usage`, {
						headers: { authorization: `Bearer ${token}` },
						...(params.signal ? { signal: params.signal } : {}),
					});
					if (!response.ok) return null;
					const payload: unknown = await response.json();
					const plan = isRecord(payload) && typeof payload.plan === "string" ? payload.plan : undefined;
					return {
						provider: "acme",
						fetchedAt: ctx.clock.now(),
						limits: parseAcmeUsage(payload),
						...(plan ? { metadata: { planType: plan } } : {}),
						raw: payload,
					};
				} catch (error) {
					// An abort must stop the caller; any other failure is "no report".
					if (params.signal?.aborted) throw error;
					return null;
				}
			},
		},
		oauth: {
			rotatesRefreshToken: true,
			async refresh(credential: OAuthCredential, ctx: PluginContext): Promise<OAuthRefreshResult> {
				const body = await requestOAuthToken(
					{
						provider: "acme",
						url: endpoints.tokenUrl,
						encoding: "form",
						body: { grant_type: "refresh_token", refresh_token: credential.refresh, client_id: clientId },
						// Scrubbed from any error the provider sends back, with the body's secret fields.
						secrets: [credential.access],
					},
					ctx,
				);
				requireTokenFields("acme", body, ["access_token", "refresh_token"]);
				return {
					access: body.access_token as string,
					refresh: body.refresh_token as string,
					// Clamped to a sane lifetime: a bad expires_in must not make every call refresh.
					expires: tokenExpiry(ctx, "acme", body.expires_in),
				};
			},
		},
	};
}
