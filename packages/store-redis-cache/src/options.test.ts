import { AuthpoolError, createMemoryStore } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { withRedisCache } from "./index";

function invalid(run: () => unknown): AuthpoolError {
	try {
		run();
	} catch (error) {
		expect(AuthpoolError.isInstance(error)).toBe(true);
		expect((error as AuthpoolError).code).toBe("INVALID_OPTIONS");
		return error as AuthpoolError;
	}
	throw new Error("expected INVALID_OPTIONS");
}

describe("withRedisCache options", () => {
	it("refuses a bad connection, prefix or bound with INVALID_OPTIONS, never echoing the URL", () => {
		const store = createMemoryStore();
		const url = "redis://:test-password-1@127.0.0.1:1";
		const errors = [
			invalid(() => withRedisCache(store, { url: "http://:test-password-1@127.0.0.1:1" })),
			invalid(() => withRedisCache(store, {} as never)),
			invalid(() => withRedisCache(store, { url, client: {} } as never)),
			invalid(() => withRedisCache(store, { url }, { prefix: "has space" })),
			invalid(() => withRedisCache(store, { url }, { prefix: "" })),
			invalid(() => withRedisCache(store, { url }, { timeoutMs: 1 })),
			invalid(() => withRedisCache(store, { url }, { unknown: true } as never)),
			invalid(() => withRedisCache(store, { url }, { logger: { warn() {} } } as never)),
			invalid(() => withRedisCache({} as never, { url })),
		];
		for (const error of errors) {
			expect(`${error.message} ${JSON.stringify(error.details ?? {})}`).not.toContain("test-password-1");
		}
	});
});
