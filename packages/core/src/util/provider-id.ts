/**
 * Provider ids: lowercase ASCII letters, digits, `.`, `_`, `-`; starting with a letter or digit; at
 * most 64 characters (`anthropic`, `openai-codex`, `google-gemini-cli`, `ollama-cloud`, ...).
 */
export const PROVIDER_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
