import {
	invalidOptions,
	type OAuthCredential,
	type PluginContext,
	type ProviderPlugin,
	type ResetCreditsPlugin,
} from "@authpool/core";
import { z } from "zod";
import { normalizeCodexBaseUrl } from "./codex-base-url";
import { codexEligible } from "./codex-eligibility";
import { type CodexEndpoints, createCodexOAuth, DEFAULT_CODEX_CLIENT_ID, DEFAULT_CODEX_ENDPOINTS } from "./codex-oauth";
import { codexRankingStrategy } from "./codex-ranking-strategy";
import { codexIdentity } from "./codex-request-headers";
import { consumeCodexResetCredit, listCodexResetCredits } from "./codex-reset-credits";
import { createCodexUsageProvider } from "./codex-usage-provider";

export interface OpenAICodexPluginOptions {
	/** Override any URL the plugin calls (tests point them at `@authpool/fake-provider`). */
	endpoints?: Partial<CodexEndpoints>;
	/**
	 * OAuth client id used for refresh and login.
	 * @default the Codex CLI's public client id
	 */
	clientId?: string;
	/**
	 * `originator` sent on the authorize URL.
	 * @default "pi"
	 */
	originator?: string;
}

const url = z.string().url();
const optionsSchema = z
	.object({
		endpoints: z
			.object({ tokenUrl: url, usageBaseUrl: url, authorizeUrl: url, redirectUri: url })
			.partial()
			.strict()
			.optional(),
		clientId: z.string().min(1).optional(),
		originator: z.string().min(1).optional(),
	})
	.strict();

function createResetCredits(defaultBase: string): ResetCreditsPlugin {
	const request = (credential: OAuthCredential, ctx: PluginContext & { baseUrl?: string }) => {
		const { accountId } = codexIdentity(credential.access, credential.accountId);
		return {
			accessToken: credential.access,
			baseUrl: normalizeCodexBaseUrl(ctx.baseUrl, defaultBase),
			fetch: ctx.fetch,
			signal: ctx.signal,
			...(accountId ? { accountId } : {}),
		};
	};
	return {
		list: (credential, ctx) => listCodexResetCredits(request(credential, ctx)),
		async redeem(credential, creditId, ctx) {
			const { raw: _raw, ...result } = await consumeCodexResetCredit({
				...request(credential, ctx),
				creditId,
				...(ctx.requestId ? { redeemRequestId: ctx.requestId } : {}),
			});
			return result;
		},
	};
}

/**
 * The ChatGPT/Codex provider plugin: usage windows (`openai-codex:primary`/`secondary` and
 * additional meters such as Spark), `x-codex-*` headers, ranking with a Pro-plan preference for
 * Spark models, rotating OAuth refresh, paste-code login, saved-reset credits and the
 * `OPENAI_CODEX_OAUTH_TOKEN` env key.
 *
 * @throws AuthpoolError `INVALID_OPTIONS` when an option is malformed.
 * @example
 * const storage = new AuthStorage(store, { providers: [createOpenAICodexPlugin()] });
 */
export function createOpenAICodexPlugin(options: OpenAICodexPluginOptions = {}): ProviderPlugin {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) throw invalidOptions("openai-codex plugin", parsed.error.issues);
	const endpoints: CodexEndpoints = { ...DEFAULT_CODEX_ENDPOINTS, ...parsed.data.endpoints };
	const usageBaseUrl = endpoints.usageBaseUrl.replace(/\/+$/, "");
	return {
		id: "openai-codex",
		name: "ChatGPT (Codex)",
		envApiKeys: ["OPENAI_CODEX_OAUTH_TOKEN"],
		usage: createCodexUsageProvider({ usageBaseUrl }),
		ranking: codexRankingStrategy,
		eligible: codexEligible,
		oauth: createCodexOAuth({
			endpoints,
			clientId: parsed.data.clientId ?? DEFAULT_CODEX_CLIENT_ID,
			originator: parsed.data.originator ?? "pi",
		}),
		resetCredits: createResetCredits(usageBaseUrl),
	};
}

/** The Codex plugin with the real endpoints. */
export const openaiCodex: ProviderPlugin = createOpenAICodexPlugin();
