/**
 * PKCE (RFC 7636, S256) for paste-code / loopback OAuth logins, shared by provider plugins.
 */
import { createHash, randomBytes } from "node:crypto";

/** A PKCE (S256) verifier/challenge pair plus an unguessable `state`. */
export interface PkcePair {
	verifier: string;
	challenge: string;
	state: string;
}

/** `verifierBytes` random bytes, base64url-encoded (Claude Code uses 96). */
export function createPkcePair(verifierBytes = 96): PkcePair {
	const verifier = randomBytes(verifierBytes).toString("base64url");
	const challenge = createHash("sha256").update(verifier).digest("base64url");
	return { verifier, challenge, state: randomBytes(32).toString("base64url") };
}

/**
 * Read a pasted authorization result: a full redirect URL (`?code=…&state=…`), `code#state`
 * (what Claude's paste page shows), or a bare code.
 */
export function parseAuthorizationInput(input: string): { code?: string; state?: string } {
	const value = input.trim();
	if (!value) return {};
	try {
		const url = new URL(value);
		const code = url.searchParams.get("code") ?? undefined;
		const state = url.searchParams.get("state") ?? undefined;
		return { ...(code ? { code } : {}), ...(state ? { state } : {}) };
	} catch {
		// not a URL: fall through to the code#state / bare-code forms
	}
	const [code, state] = value.split("#", 2);
	return { ...(code ? { code } : {}), ...(state ? { state } : {}) };
}
