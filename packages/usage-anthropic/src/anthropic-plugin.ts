import { invalidOptions, type ProviderPlugin } from "@authpool/core";
import { z } from "zod";
import { anthropicEnvApiKeys } from "./anthropic-env-keys";
import {
	type AnthropicEndpoints,
	createAnthropicOAuth,
	DEFAULT_ANTHROPIC_CLIENT_ID,
	DEFAULT_ANTHROPIC_ENDPOINTS,
} from "./anthropic-oauth";
import { anthropicRankingStrategy } from "./anthropic-ranking-strategy";
import { createAnthropicUsageProvider } from "./anthropic-usage-provider";

export interface AnthropicPluginOptions {
	/** Override any URL the plugin calls (tests point them at `@authpool/fake-provider`). */
	endpoints?: Partial<AnthropicEndpoints>;
	/**
	 * OAuth client id used for refresh and login.
	 * @default Claude Code's public client id
	 */
	clientId?: string;
	/**
	 * User agent of usage requests.
	 * @default "claude-cli/2.1.165 (external, cli)"
	 */
	usageUserAgent?: string;
}

const url = z.string().url();
const optionsSchema = z
	.object({
		endpoints: z
			.object({
				tokenUrl: url,
				usageBaseUrl: url,
				bootstrapUrl: url,
				authorizeUrl: url,
				redirectUri: url,
			})
			.partial()
			.strict()
			.optional(),
		clientId: z.string().min(1).optional(),
		usageUserAgent: z.string().min(1).optional(),
	})
	.strict();

/**
 * The Claude (Anthropic) provider plugin: usage windows (`anthropic:5h`, `anthropic:7d`,
 * `anthropic:7d:opus`, `anthropic:7d:sonnet`), unified rate-limit headers, ranking, rotating
 * OAuth refresh, paste-code login and env keys.
 *
 * @throws AuthpoolError `INVALID_OPTIONS` when an option is malformed.
 * @example
 * const storage = new AuthStorage(store, { providers: [createAnthropicPlugin()] });
 */
export function createAnthropicPlugin(options: AnthropicPluginOptions = {}): ProviderPlugin {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) throw invalidOptions("anthropic plugin", parsed.error.issues);
	const endpoints: AnthropicEndpoints = { ...DEFAULT_ANTHROPIC_ENDPOINTS, ...parsed.data.endpoints };
	return {
		id: "anthropic",
		name: "Claude (Anthropic)",
		envApiKeys: anthropicEnvApiKeys,
		usage: createAnthropicUsageProvider({
			usageBaseUrl: endpoints.usageBaseUrl,
			...(parsed.data.usageUserAgent ? { userAgent: parsed.data.usageUserAgent } : {}),
		}),
		ranking: anthropicRankingStrategy,
		oauth: createAnthropicOAuth({ endpoints, clientId: parsed.data.clientId ?? DEFAULT_ANTHROPIC_CLIENT_ID }),
	};
}

/** The Anthropic plugin with the real endpoints. */
export const anthropic: ProviderPlugin = createAnthropicPlugin();
