import { describe, expect, it } from "vitest";
import { redact, redactString, scrubSecrets } from "./redact";

describe("redact", () => {
	it("masks secret fields at any depth and keeps the rest", () => {
		const input = {
			provider: "anthropic",
			id: 3,
			credential: { type: "oauth", access: "at-123", refresh: "rt-456", expires: 9, email: "a@b.c" },
			headers: { Authorization: "Bearer xyz.abc.def" },
			list: [{ apiKey: "k-1" }],
		};
		expect(redact(input)).toEqual({
			provider: "anthropic",
			id: 3,
			credential: { type: "oauth", access: "[redacted]", refresh: "[redacted]", expires: 9, email: "a@b.c" },
			headers: { Authorization: "[redacted]" },
			list: [{ apiKey: "[redacted]" }],
		});
		expect(input.credential.access).toBe("at-123");
	});

	it("replaces token-shaped strings and explicit secrets in free text, and cuts cycles", () => {
		const jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl";
		const text = `failed with sk-ant-abcdefghijklmnop and ${jwt}; Bearer abcdefghijkl; my-own-secret`;
		const out = redactString(text);
		expect(out).not.toContain("sk-ant-abcdefghijklmnop");
		expect(out).not.toContain(jwt);
		expect(out).toContain("Bearer [redacted]");
		expect(redact({ message: text }, ["my-own-secret"]).message).not.toContain("my-own-secret");
		const cyclic: Record<string, unknown> = { a: 1 };
		cyclic.self = cyclic;
		expect(redact(cyclic)).toEqual({ a: 1, self: "[circular]" });
		expect(redact(new Error("token ghp_FAKE0123456789abcd"))).toEqual({
			name: "Error",
			message: "token [redacted]",
		});
	});
});

describe("scrubSecrets", () => {
	it("replaces exact secrets (longest first) and token-shaped strings, ignoring very short ones", () => {
		expect(
			scrubSecrets("rt=test-refresh-1; rt2=test-refresh-12; ab", ["test-refresh-1", "test-refresh-12", "ab"]),
		).toBe("rt=[redacted]; rt2=[redacted]; ab");
		expect(scrubSecrets("Bearer abcdefgh1234 here", [])).toBe("Bearer [redacted] here");
	});
});
