import { invalidOptions } from "@authpool/core";
import { z } from "zod";

/** Every URL the plugin calls; tests point them at `@authpool/fake-provider`. */
export interface GeminiCliEndpoints {
	/** Google OAuth token endpoint. @default "https://oauth2.googleapis.com/token" */
	tokenUrl: string;
	/** Code Assist API base (`/v1internal:*` lives under it). @default "https://cloudcode-pa.googleapis.com" */
	codeAssistBaseUrl: string;
}

/** Options of `createGeminiCliPlugin`. */
export interface GeminiCliPluginOptions {
	/** Override any endpoint (the rest keep their real defaults). */
	endpoints?: Partial<GeminiCliEndpoints>;
	/** OAuth client id. @default the public Gemini CLI installed-app client id */
	clientId?: string;
	/** OAuth client secret (public for installed apps). @default the public Gemini CLI client secret */
	clientSecret?: string;
	/**
	 * Gemini CLI version sent in the `User-Agent`.
	 * @default env `AUTHPOOL_GEMINI_CLI_VERSION` (legacy `PI_AI_GEMINI_CLI_VERSION` still read, deprecated), else "0.46.0"
	 */
	cliVersion?: string;
	/**
	 * Put the refresh token into the JSON blob returned by `oauth.toApiKey`. Off by default so a caller
	 * that only needs a bearer never receives the long-lived secret.
	 * @default false
	 */
	includeRefreshTokenInApiKey?: boolean;
}

/** Options after defaults are applied. */
export interface ResolvedGeminiCliOptions {
	endpoints: GeminiCliEndpoints;
	clientId: string;
	clientSecret: string;
	cliVersion: string | undefined;
	includeRefreshTokenInApiKey: boolean;
}

/** Real endpoints. */
export const GEMINI_CLI_DEFAULT_ENDPOINTS: GeminiCliEndpoints = {
	tokenUrl: "https://oauth2.googleapis.com/token",
	codeAssistBaseUrl: "https://cloudcode-pa.googleapis.com",
};

// Installed-app OAuth clients are public by design (RFC 8252 §8.5): these ship in the open-source Gemini CLI.
const DEFAULT_CLIENT_ID = "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
const DEFAULT_CLIENT_SECRET = "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";

const optionsSchema = z
	.object({
		endpoints: z
			.object({
				tokenUrl: z.url().optional(),
				codeAssistBaseUrl: z.url().optional(),
			})
			.strict()
			.optional(),
		clientId: z.string().min(1).optional(),
		clientSecret: z.string().min(1).optional(),
		cliVersion: z.string().min(1).optional(),
		includeRefreshTokenInApiKey: z.boolean().optional(),
	})
	.strict();

/**
 * Validate and default the options.
 * @throws AuthpoolError `INVALID_OPTIONS` listing `path: message` for each bad field.
 */
export function resolveGeminiCliOptions(options: GeminiCliPluginOptions = {}): ResolvedGeminiCliOptions {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) throw invalidOptions("google-gemini-cli plugin", parsed.error.issues);
	const value = parsed.data;
	return {
		endpoints: { ...GEMINI_CLI_DEFAULT_ENDPOINTS, ...stripUndefined(value.endpoints ?? {}) },
		clientId: value.clientId ?? DEFAULT_CLIENT_ID,
		clientSecret: value.clientSecret ?? DEFAULT_CLIENT_SECRET,
		cliVersion: value.cliVersion,
		includeRefreshTokenInApiKey: value.includeRefreshTokenInApiKey ?? false,
	};
}

function stripUndefined<T extends Record<string, unknown>>(value: T): Partial<T> {
	return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
