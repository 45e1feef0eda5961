import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createPkcePair, parseAuthorizationInput } from "./pkce";

describe("createPkcePair", () => {
	it("derives the S256 challenge from a fresh verifier", () => {
		const a = createPkcePair();
		const b = createPkcePair(32);
		expect(a.challenge).toBe(createHash("sha256").update(a.verifier).digest("base64url"));
		expect(Buffer.from(a.verifier, "base64url")).toHaveLength(96);
		expect(Buffer.from(b.verifier, "base64url")).toHaveLength(32);
		expect(a.state).not.toBe(b.state);
	});
});

describe("parseAuthorizationInput", () => {
	it("reads a redirect URL, code#state and a bare code", () => {
		expect(parseAuthorizationInput("http://localhost:1455/auth/callback?code=c1&state=s1")).toEqual({
			code: "c1",
			state: "s1",
		});
		expect(parseAuthorizationInput(" c2#s2 ")).toEqual({ code: "c2", state: "s2" });
		expect(parseAuthorizationInput("c3")).toEqual({ code: "c3" });
		expect(parseAuthorizationInput("   ")).toEqual({});
	});
});
