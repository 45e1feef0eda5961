import { invalidOptions } from "@authpool/core";
import { z } from "zod";

/** Every URL the plugin calls; tests point them at `@authpool/fake-provider`. */
export interface AntigravityEndpoints {
	/** Google OAuth token endpoint. @default "https://oauth2.googleapis.com/token" */
	tokenUrl: string;
	/**
	 * Code Assist bases tried in order for `fetchAvailableModels` (a transient status moves on to the next).
	 * @default ["https://daily-cloudcode-pa.googleapis.com", "https://daily-cloudcode-pa.sandbox.googleapis.com"]
	 */
	endpoints: string[];
}

/** Options of `createAntigravityPlugin`. */
export interface AntigravityPluginOptions {
	/** Override any endpoint (the rest keep their real defaults). */
	endpoints?: Partial<AntigravityEndpoints>;
	/** OAuth client id. @default the public Antigravity installed-app client id */
	clientId?: string;
	/** OAuth client secret (public for installed apps). @default the public Antigravity client secret */
	clientSecret?: string;
	/** Antigravity version sent in the `User-Agent`. @default env `AUTHPOOL_ANTIGRAVITY_VERSION` (legacy `PI_AI_ANTIGRAVITY_VERSION` still read, deprecated), else "2.1.4" */
	version?: string;
	/**
	 * Put the refresh token into the JSON blob returned by `oauth.toApiKey`. Off by default so a caller
	 * that only needs a bearer never receives the long-lived secret.
	 * @default false
	 */
	includeRefreshTokenInApiKey?: boolean;
}

/** Options after defaults are applied. */
export interface ResolvedAntigravityOptions {
	endpoints: AntigravityEndpoints;
	clientId: string;
	clientSecret: string;
	version: string | undefined;
	includeRefreshTokenInApiKey: boolean;
}

/** Real endpoints. */
export const ANTIGRAVITY_DEFAULT_ENDPOINTS: AntigravityEndpoints = {
	tokenUrl: "https://oauth2.googleapis.com/token",
	endpoints: ["https://daily-cloudcode-pa.googleapis.com", "https://daily-cloudcode-pa.sandbox.googleapis.com"],
};

// Installed-app OAuth clients are public by design (RFC 8252 §8.5): these ship in the Antigravity client.
const DEFAULT_CLIENT_ID = "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com";
const DEFAULT_CLIENT_SECRET = "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";

const optionsSchema = z
	.object({
		endpoints: z
			.object({
				tokenUrl: z.url().optional(),
				endpoints: z.array(z.url()).min(1).optional(),
			})
			.strict()
			.optional(),
		clientId: z.string().min(1).optional(),
		clientSecret: z.string().min(1).optional(),
		version: z.string().min(1).optional(),
		includeRefreshTokenInApiKey: z.boolean().optional(),
	})
	.strict();

/**
 * Validate and default the options.
 * @throws AuthpoolError `INVALID_OPTIONS` listing `path: message` for each bad field.
 */
export function resolveAntigravityOptions(options: AntigravityPluginOptions = {}): ResolvedAntigravityOptions {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) throw invalidOptions("google-antigravity plugin", parsed.error.issues);
	const value = parsed.data;
	return {
		endpoints: {
			tokenUrl: value.endpoints?.tokenUrl ?? ANTIGRAVITY_DEFAULT_ENDPOINTS.tokenUrl,
			endpoints: [...(value.endpoints?.endpoints ?? ANTIGRAVITY_DEFAULT_ENDPOINTS.endpoints)],
		},
		clientId: value.clientId ?? DEFAULT_CLIENT_ID,
		clientSecret: value.clientSecret ?? DEFAULT_CLIENT_SECRET,
		version: value.version,
		includeRefreshTokenInApiKey: value.includeRefreshTokenInApiKey ?? false,
	};
}
