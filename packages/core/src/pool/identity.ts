/**
 * Identity of a credential row (docs/credential-model.md): two active rows of a provider with the same identity
 * key are the same account.
 */

import type { AuthCredential, OAuthCredential } from "../types";
import { isRecord } from "../usage/report";
import { sha256Hex } from "../util/hash";

/** Decode a JWT payload without verifying it; `undefined` when the token is not a JWT. */
export function decodeJwtClaims(token: string | undefined): Record<string, unknown> | undefined {
	if (!token) return undefined;
	const parts = token.split(".");
	if (parts.length !== 3 || !parts[1]) return undefined;
	try {
		const json = Buffer.from(parts[1].replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8");
		const claims: unknown = JSON.parse(json);
		return isRecord(claims) ? claims : undefined;
	} catch {
		return undefined;
	}
}

function str(value: unknown): string | undefined {
	return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

/** Identity fields mined from a JWT's claims (OpenAI auth/profile claims, email, sub). */
export function jwtIdentity(token: string | undefined): { accountId?: string; email?: string; subject?: string } {
	const claims = decodeJwtClaims(token);
	if (!claims) return {};
	const auth = claims["https://api.openai.com/auth"];
	const profile = claims["https://api.openai.com/profile"];
	const accountId = isRecord(auth) ? str(auth.chatgpt_account_id) : undefined;
	const email = (isRecord(profile) ? str(profile.email) : undefined) ?? str(claims.email);
	const subject = str(claims.sub);
	const out: { accountId?: string; email?: string; subject?: string } = {};
	if (accountId) out.accountId = accountId;
	if (email) out.email = email.toLowerCase();
	if (subject) out.subject = subject;
	return out;
}

/** Providers whose identity is the login email first (one person, several workspaces share an account id). */
const EMAIL_FIRST = new Set(["anthropic", "openai-codex"]);

/**
 * Reserved extension field holding a precomputed identity key. An encrypting store wrapper sets it
 * (an HMAC of the plaintext identity) so a store that only sees sealed fields still matches identities.
 */
export const IDENTITY_FIELD = "authpoolIdentity";

/**
 * The identity key of an OAuth credential, or `null` when nothing identifies it.
 * A non-empty `authpoolIdentity` field wins over everything (see {@link IDENTITY_FIELD}).
 * For anthropic and openai-codex the email wins; otherwise account > email > project.
 * API keys are identified by a hash of the key.
 */
export function credentialIdentityKey(provider: string, credential: AuthCredential): string | null {
	const precomputed = str((credential as unknown as Record<string, unknown>)[IDENTITY_FIELD]);
	if (precomputed) return precomputed;
	if (credential.type === "api_key") {
		return credential.key ? `key:${sha256Hex(credential.key).slice(0, 32)}` : null;
	}
	const fromAccess = jwtIdentity(credential.access);
	const fromRefresh = jwtIdentity(credential.refresh);
	const accountId = str(credential.accountId) ?? fromAccess.accountId ?? fromRefresh.accountId;
	const email = (str(credential.email) ?? fromAccess.email ?? fromRefresh.email)?.toLowerCase();
	const projectId = str(credential.projectId);
	const subject = fromAccess.subject ?? fromRefresh.subject;
	if (EMAIL_FIRST.has(provider) && email) return `email:${email}`;
	if (accountId) return `account:${accountId}`;
	if (email) return `email:${email}`;
	if (projectId) return `project:${projectId}`;
	if (subject) return `sub:${subject}`;
	return null;
}

/** Identity fields of an OAuth credential (explicit fields first, then JWT claims). */
export function oauthIdentity(credential: OAuthCredential): { accountId?: string; email?: string; projectId?: string } {
	const fromAccess = jwtIdentity(credential.access);
	const out: { accountId?: string; email?: string; projectId?: string } = {};
	const accountId = str(credential.accountId) ?? fromAccess.accountId;
	const email = (str(credential.email) ?? fromAccess.email)?.toLowerCase();
	if (accountId) out.accountId = accountId;
	if (email) out.email = email;
	const projectId = str(credential.projectId);
	if (projectId) out.projectId = projectId;
	return out;
}

/**
 * Usage account key: type, account, email, project, enterprise; a hash of the
 * secret only when neither account nor email is known.
 */
export function usageAccountKey(credential: AuthCredential): string {
	if (credential.type === "api_key") {
		return credential.key ? `api_key|secret:${sha256Hex(credential.key).slice(0, 16)}` : "api_key|anonymous";
	}
	const id = oauthIdentity(credential);
	const parts: string[] = ["oauth"];
	if (id.accountId) parts.push(`account:${id.accountId}`);
	if (id.email) parts.push(`email:${id.email}`);
	if (id.projectId) parts.push(`project:${id.projectId}`);
	if (typeof credential.enterpriseUrl === "string" && credential.enterpriseUrl) {
		parts.push(`enterprise:${credential.enterpriseUrl.toLowerCase()}`);
	}
	if (!id.accountId && !id.email) {
		const secret = credential.refresh || credential.access;
		parts.push(secret ? `secret:${sha256Hex(secret).slice(0, 16)}` : "anonymous");
	}
	return parts.join("|");
}
