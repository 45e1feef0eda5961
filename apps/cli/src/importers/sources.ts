/** The tools whose logins `authpool import` reads. */
export type ImportSource = "claude-code" | "codex" | "gemini-cli" | "opencode" | "oh-my-pi";
export const IMPORT_SOURCES: readonly ImportSource[] = ["claude-code", "codex", "gemini-cli", "opencode", "oh-my-pi"];
