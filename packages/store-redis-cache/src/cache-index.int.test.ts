/** The cache's expiry index stays bounded even when nobody calls `cleanExpired`. */
import { createMemoryStore } from "@authpool/core";
import { createTestClock } from "@authpool/store-conformance";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { EXPIRED_CACHE_GRACE_MS, withRedisCache } from "./index";
import { dropPrefix, randomPrefix, testRedisUrl } from "./test-support";

const url = testRedisUrl();

describe("cache index", () => {
	it("stays bounded without cleanExpired: members whose values Redis already dropped are trimmed on write", async () => {
		const clock = createTestClock();
		const prefix = randomPrefix("index");
		const store = withRedisCache(createMemoryStore({ clock }), { url }, { prefix, clock });
		const admin = new Redis(url);
		try {
			for (let i = 0; i < 20; i++) await store.cache.set(`pin:old-${i}`, "1", clock.now() + 1_000);
			expect(await admin.zcard(`${prefix}cx`)).toBe(20);
			// Past expiry plus the grace, those values are gone from Redis (PX); the next write trims the index.
			clock.advance(1_000 + EXPIRED_CACHE_GRACE_MS + 1);
			await store.cache.set("pin:new", "2", clock.now() + 1_000);
			expect(await admin.zrange(`${prefix}cx`, 0, -1)).toEqual(["pin:new"]);
			expect(await store.cache.get("pin:new")).toBe("2");
		} finally {
			admin.disconnect();
			await store.close();
			await dropPrefix(url, prefix);
		}
	});
});
