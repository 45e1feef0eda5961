/** Provider ids the CLI knows without loading any plugin (validation stays fast). */
/** Ids of the built-in plugins (kept in step with `builtinPlugins`; a test checks). */
export const BUILTIN_PROVIDER_IDS = [
	"anthropic",
	"openai-codex",
	"google-gemini-cli",
	"google-antigravity",
	"github-copilot",
	"kimi-code",
	"zai",
	"ollama",
	"ollama-cloud",
	"opencode-go",
] as const;
