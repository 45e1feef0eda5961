import { describe, expect, it } from "vitest";
import { credentialIdentityKey, decodeJwtClaims, jwtIdentity, oauthIdentity, usageAccountKey } from "./identity";

const jwt = (claims: Record<string, unknown>) =>
	`${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;

const oauth = (extra: Record<string, unknown> = {}) => ({
	type: "oauth" as const,
	access: "a",
	refresh: "r",
	expires: 1,
	...extra,
});

describe("JWT claims", () => {
	it("decodes payloads and mines OpenAI identity claims", () => {
		const token = jwt({
			sub: "user-1",
			"https://api.openai.com/auth": { chatgpt_account_id: "acct-9" },
			"https://api.openai.com/profile": { email: "Dev@Example.com" },
		});
		expect(decodeJwtClaims(token)?.sub).toBe("user-1");
		expect(jwtIdentity(token)).toEqual({ accountId: "acct-9", email: "dev@example.com", subject: "user-1" });
		expect(decodeJwtClaims("not-a-jwt")).toBeUndefined();
		expect(decodeJwtClaims("a.!!!.c")).toBeUndefined();
	});
});

describe("credentialIdentityKey", () => {
	it("lets the email win for anthropic and openai-codex", () => {
		const cred = oauth({ accountId: "acct-1", email: "A@x.io" });
		expect(credentialIdentityKey("anthropic", cred)).toBe("email:a@x.io");
		expect(credentialIdentityKey("openai-codex", cred)).toBe("email:a@x.io");
		expect(credentialIdentityKey("kimi-code", cred)).toBe("account:acct-1");
	});
	it("falls back account > email > project > JWT subject, and hashes API keys", () => {
		expect(credentialIdentityKey("google-gemini-cli", oauth({ projectId: "p-1" }))).toBe("project:p-1");
		expect(credentialIdentityKey("x", oauth({ access: jwt({ sub: "s-1" }) }))).toBe("sub:s-1");
		expect(credentialIdentityKey("x", oauth({ access: jwt({ email: "j@x.io" }) }))).toBe("email:j@x.io");
		expect(credentialIdentityKey("x", oauth())).toBeNull();
		const key = credentialIdentityKey("zai", { type: "api_key", key: "secret-key" });
		expect(key).toMatch(/^key:[0-9a-f]{32}$/);
		expect(key).not.toContain("secret-key");
	});
});

describe("usage account key", () => {
	it("joins type, account, email, project and enterprise; hashes the secret only without account/email", () => {
		expect(usageAccountKey(oauth({ accountId: "a1", email: "E@x", projectId: "p", enterpriseUrl: "GHE.io" }))).toBe(
			"oauth|account:a1|email:e@x|project:p|enterprise:ghe.io",
		);
		expect(usageAccountKey(oauth())).toMatch(/^oauth\|secret:[0-9a-f]{16}$/);
		expect(usageAccountKey({ type: "api_key", key: "k" })).toMatch(/^api_key\|secret:[0-9a-f]{16}$/);
		expect(oauthIdentity(oauth({ email: " Z@x " }))).toEqual({ email: "z@x" });
	});
});

describe("precomputed identity", () => {
	it("a non-empty authpoolIdentity field wins over every other identity source", () => {
		const sealed = oauth({ email: "ada@example.com", authpoolIdentity: "hmac:k1:abc" });
		expect(credentialIdentityKey("anthropic", sealed)).toBe("hmac:k1:abc");
		expect(
			credentialIdentityKey("openai", { type: "api_key", key: "x", authpoolIdentity: "hmac:k1:def" } as never),
		).toBe("hmac:k1:def");
		expect(credentialIdentityKey("anthropic", oauth({ email: "ada@example.com", authpoolIdentity: " " }))).toBe(
			"email:ada@example.com",
		);
	});
});
