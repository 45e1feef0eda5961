/**
 * The built-in provider plugins. With `AUTHPOOL_FAKE_PROVIDER_URL` set (the demo and the tests do),
 * every plugin talks to a running `@authpool/fake-provider` at that URL instead of the real provider.
 */
import type { ProviderPlugin } from "@authpool/core";
import { anthropic, createAnthropicPlugin } from "@authpool/usage-anthropic";
import { createGithubCopilotPlugin, githubCopilot } from "@authpool/usage-github-copilot";
import { createAntigravityPlugin, googleAntigravity } from "@authpool/usage-google-antigravity";
import { createGeminiCliPlugin, googleGeminiCli } from "@authpool/usage-google-gemini-cli";
import { createKimiPlugin, kimiCode } from "@authpool/usage-kimi-code";
import { ollama, ollamaCloud } from "@authpool/usage-ollama";
import { createOpenAICodexPlugin, openaiCodex } from "@authpool/usage-openai-codex";
import { opencodeGo } from "@authpool/usage-opencode-go";
import { createZaiPlugin, zai } from "@authpool/usage-zai";

/** Plugins pointed at a fake provider's `url` (each endpoint lives under `${url}/${provider}`). */
export function fakeProviderPlugins(url: string): ProviderPlugin[] {
	const base = (provider: string) => `${url.replace(/\/+$/, "")}/${provider}`;
	const a = base("anthropic");
	const c = base("openai-codex");
	const g = base("google-gemini-cli");
	const ag = base("google-antigravity");
	const gh = base("github-copilot");
	const k = base("kimi-code");
	return [
		createAnthropicPlugin({
			endpoints: {
				tokenUrl: `${a}/v1/oauth/token`,
				usageBaseUrl: `${a}/api/oauth`,
				bootstrapUrl: `${a}/api/claude_cli/bootstrap`,
				redirectUri: `${a}/oauth/code/callback`,
			},
		}),
		createOpenAICodexPlugin({ endpoints: { tokenUrl: `${c}/oauth/token`, usageBaseUrl: `${c}/backend-api` } }),
		createGeminiCliPlugin({ endpoints: { tokenUrl: `${g}/token`, codeAssistBaseUrl: g } }),
		createAntigravityPlugin({ endpoints: { tokenUrl: `${ag}/token`, endpoints: [ag] } }),
		createGithubCopilotPlugin({ endpoints: { githubApiBaseUrl: gh, githubBaseUrl: gh } }),
		createKimiPlugin({ endpoints: { oauthHost: k, usageBaseUrl: `${k}/coding/v1` } }),
		createZaiPlugin({ endpoints: { origin: base("zai") } }),
		ollama,
		ollamaCloud,
		opencodeGo,
	];
}

/** The plugins the CLI loads (their ids are `BUILTIN_PROVIDER_IDS`). */
export function builtinPlugins(env: Record<string, string | undefined>): ProviderPlugin[] {
	const fake = env.AUTHPOOL_FAKE_PROVIDER_URL;
	if (fake) return fakeProviderPlugins(fake);
	return [
		anthropic,
		openaiCodex,
		googleGeminiCli,
		googleAntigravity,
		githubCopilot,
		kimiCode,
		zai,
		ollama,
		ollamaCloud,
		opencodeGo,
	];
}
