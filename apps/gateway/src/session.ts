import type { IncomingHttpHeaders } from "node:http";

/**
 * Headers that carry a conversation id, in the order they are tried: the gateway's own, Claude Code's,
 * Codex CLI's (`session_id`, older `conversation_id`), opencode's, and a generic one.
 */
export const SESSION_HEADERS = [
	"x-authpool-session",
	"x-claude-code-session-id",
	"session_id",
	"conversation_id",
	"x-opencode-session",
	"x-session-id",
] as const;

const MAX_SESSION_LENGTH = 256;

/** The session id a client sent, if any (trimmed, bounded). */
export function sessionFromHeaders(headers: IncomingHttpHeaders): string | undefined {
	for (const name of SESSION_HEADERS) {
		const raw = headers[name];
		const value = Array.isArray(raw) ? raw[0] : raw;
		if (typeof value === "string") {
			const trimmed = value.trim();
			if (trimmed !== "" && trimmed.length <= MAX_SESSION_LENGTH) return trimmed;
		}
	}
	return undefined;
}
