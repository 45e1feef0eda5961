import { randomBytes, randomUUID } from "node:crypto";

function nonce(): string {
	return randomBytes(12).toString("hex");
}

function base64Url(value: unknown): string {
	return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** Claims the fake puts in Codex access tokens. */
export interface CodexClaims {
	accountId?: string;
	email?: string;
	expiresAt: number;
	issuedAt: number;
}

/**
 * An unsigned JWT (`alg: none`) carrying the claims Codex clients read. A random `jti` keeps every
 * token distinct even when two are issued in the same second.
 */
export function codexJwt(claims: CodexClaims): string {
	const payload: Record<string, unknown> = {
		iss: "https://auth.openai.com",
		aud: ["https://api.openai.com/v1"],
		sub: `auth0|${claims.accountId ?? "anonymous"}`,
		iat: Math.floor(claims.issuedAt / 1000),
		exp: Math.floor(claims.expiresAt / 1000),
		jti: randomUUID(),
		"https://api.openai.com/auth": { chatgpt_account_id: claims.accountId },
		"https://api.openai.com/profile": { email: claims.email },
	};
	return `${base64Url({ alg: "none", typ: "JWT" })}.${base64Url(payload)}.${randomBytes(16).toString("base64url")}`;
}

/** A new access token in the provider's usual format (Codex: see {@link codexJwt}). */
export function accessTokenFor(provider: string): string {
	switch (provider) {
		case "anthropic":
			return `sk-ant-oat01-fake-${nonce()}`;
		case "google-gemini-cli":
		case "google-antigravity":
			return `ya29.fake-${nonce()}`;
		case "github-copilot":
			return `gho_fake${nonce()}`;
		case "kimi-code":
			return `kimi-at-fake-${nonce()}`;
		default:
			return `fake-at-${nonce()}`;
	}
}

/** A new refresh token in the provider's usual format. */
export function refreshTokenFor(provider: string): string {
	switch (provider) {
		case "anthropic":
			return `sk-ant-ort01-fake-${nonce()}`;
		case "openai-codex":
			return `rt_fake_${nonce()}`;
		case "google-gemini-cli":
		case "google-antigravity":
			return `1//fake-${nonce()}`;
		case "kimi-code":
			return `kimi-rt-fake-${nonce()}`;
		default:
			return `fake-rt-${nonce()}`;
	}
}

/** A new API key. */
export function apiKeyFor(provider: string): string {
	switch (provider) {
		case "zai":
			return `${nonce()}.fakezai${nonce().slice(0, 8)}`;
		case "opencode-go":
			return `sk-fake-${nonce()}`;
		default:
			return `${provider}-fake-${nonce()}`;
	}
}

/** A one-time code (authorization code, device code). */
export function oneTimeCode(prefix: string): string {
	return `${prefix}-${nonce()}`;
}

/** A short human code such as `ABCD-1234`. */
export function userCode(): string {
	const letters = "BCDFGHJKLMNPQRSTVWXZ";
	const bytes = randomBytes(8);
	let left = "";
	for (let i = 0; i < 4; i++) left += letters[(bytes[i] ?? 0) % letters.length];
	let right = "";
	for (let i = 4; i < 8; i++) right += String((bytes[i] ?? 0) % 10);
	return `${left}-${right}`;
}

export { randomUUID };
