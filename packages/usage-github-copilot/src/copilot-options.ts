import { invalidOptions } from "@authpool/core";
import { z } from "zod";

/** Every URL the plugin calls; tests point them at `@authpool/fake-provider`. */
export interface GithubCopilotEndpoints {
	/**
	 * GitHub REST API base for `copilot_internal/user`, `/user` and billing, used when the credential has
	 * no `enterpriseUrl`. @default "https://api.github.com"
	 */
	githubApiBaseUrl: string;
	/** GitHub web base for the device login (`/login/device/code`, `/login/oauth/access_token`). @default "https://github.com" */
	githubBaseUrl: string;
}

/** Sleep between device-login polls (injectable so tests never wait). */
export type PollWait = (delayMs: number, signal?: AbortSignal) => Promise<void>;

/** Options of `createGithubCopilotPlugin`. */
export interface GithubCopilotPluginOptions {
	/** Override any endpoint (the rest keep their real defaults). */
	endpoints?: Partial<GithubCopilotEndpoints>;
	/** GitHub OAuth App client id for the device login. @default the public Copilot editor client id */
	clientId?: string;
	/**
	 * Put the refresh token into the JSON blob returned by `oauth.toApiKey`. For Copilot access and
	 * refresh are the same GitHub token, so this only adds a duplicate field.
	 * @default false
	 */
	includeRefreshTokenInApiKey?: boolean;
	/** Sleep between device-login polls. @default an abortable `setTimeout` */
	pollWait?: PollWait;
}

/** Options after defaults are applied. */
export interface ResolvedGithubCopilotOptions {
	endpoints: GithubCopilotEndpoints;
	clientId: string;
	includeRefreshTokenInApiKey: boolean;
	pollWait: PollWait | undefined;
}

/** Real endpoints. */
export const GITHUB_COPILOT_DEFAULT_ENDPOINTS: GithubCopilotEndpoints = {
	githubApiBaseUrl: "https://api.github.com",
	githubBaseUrl: "https://github.com",
};

// The public OAuth App id Copilot editor integrations use for the device flow (not a secret).
const DEFAULT_CLIENT_ID = "Iv1.b507a08c87ecfe98";

const optionsSchema = z
	.object({
		endpoints: z
			.object({
				githubApiBaseUrl: z.url().optional(),
				githubBaseUrl: z.url().optional(),
			})
			.strict()
			.optional(),
		clientId: z.string().min(1).optional(),
		includeRefreshTokenInApiKey: z.boolean().optional(),
		pollWait: z.custom<PollWait>((value) => typeof value === "function", "must be a function").optional(),
	})
	.strict();

/**
 * Validate and default the options.
 * @throws AuthpoolError `INVALID_OPTIONS` listing `path: message` for each bad field.
 */
export function resolveGithubCopilotOptions(options: GithubCopilotPluginOptions = {}): ResolvedGithubCopilotOptions {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) throw invalidOptions("github-copilot plugin", parsed.error.issues);
	const value = parsed.data;
	return {
		endpoints: {
			githubApiBaseUrl: trimSlash(
				value.endpoints?.githubApiBaseUrl ?? GITHUB_COPILOT_DEFAULT_ENDPOINTS.githubApiBaseUrl,
			),
			githubBaseUrl: trimSlash(value.endpoints?.githubBaseUrl ?? GITHUB_COPILOT_DEFAULT_ENDPOINTS.githubBaseUrl),
		},
		clientId: value.clientId ?? DEFAULT_CLIENT_ID,
		includeRefreshTokenInApiKey: value.includeRefreshTokenInApiKey ?? false,
		pollWait: value.pollWait,
	};
}

function trimSlash(url: string): string {
	return url.replace(/\/+$/, "");
}
