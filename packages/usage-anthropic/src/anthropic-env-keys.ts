import type { Env } from "@authpool/core";

const TRUTHY = new Set(["1", "true", "yes", "on"]);

/**
 * Env vars that may hold an Anthropic token, first non-empty wins. With
 * `CLAUDE_CODE_USE_FOUNDRY` set to 1/true/yes/on (any case) the Foundry key comes first.
 */
export function anthropicEnvApiKeys(env: Env): readonly string[] {
	const foundry = env.CLAUDE_CODE_USE_FOUNDRY?.trim().toLowerCase();
	if (foundry && TRUTHY.has(foundry)) {
		return ["ANTHROPIC_FOUNDRY_API_KEY", "ANTHROPIC_OAUTH_TOKEN", "ANTHROPIC_API_KEY"];
	}
	return ["ANTHROPIC_OAUTH_TOKEN", "ANTHROPIC_API_KEY"];
}
