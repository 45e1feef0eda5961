import { describe, expect, it } from "vitest";
import { fingerprint, xxHash32 } from "./hash";

describe("xxHash32", () => {
	it("matches the reference test vectors (seed 0)", () => {
		expect(xxHash32("")).toBe(0x02cc5d05);
		expect(xxHash32("a")).toBe(0x550d7456);
		expect(xxHash32("abc")).toBe(0x32d153ff);
		expect(xxHash32("Nobody inspects the spammish repetition")).toBe(0xe2293b2f);
	});
	it("honours the seed", () => {
		expect(xxHash32("abc", 1)).not.toBe(xxHash32("abc"));
	});
});

describe("fingerprint", () => {
	it("is stable and does not contain the secret", () => {
		expect(fingerprint("sk-secret")).toBe(fingerprint("sk-secret"));
		expect(fingerprint("sk-secret")).not.toContain("secret");
		expect(fingerprint("sk-secret")).toHaveLength(16);
	});
});
