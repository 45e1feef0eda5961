/** Redis stays bounded without anyone calling `cleanExpired`: the cache index and the block mirror trim themselves. */
import { createMemoryStore } from "@authpool/core";
import { createTestClock } from "@authpool/store-conformance";
import { dropPrefix, randomPrefix, testRedisUrl } from "@authpool/test-services";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { EXPIRED_CACHE_GRACE_MS, withRedisCache } from "./index";

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

describe("block mirror", () => {
	it("drops lapsed blocks on the next block write", async () => {
		const clock = createTestClock();
		const prefix = randomPrefix("blocks");
		const store = withRedisCache(createMemoryStore({ clock }), { url }, { prefix, clock });
		const admin = new Redis(url);
		try {
			const row = await store.rows.insert("fleet-keys", { type: "api_key", key: "test-key-1" });
			const key = { credentialId: row.id, providerKey: "fleet-keys:api_key" };
			for (let i = 0; i < 5; i++)
				await store.blocks.upsert({ ...key, scope: `model:${i}`, blockedUntil: clock.now() + 1_000 });
			expect(await admin.hlen(`${prefix}b`)).toBe(5);
			clock.advance(1_001);
			const fresh = await store.blocks.upsert({ ...key, scope: "", blockedUntil: clock.now() + 60_000 });
			expect(await admin.hlen(`${prefix}b`)).toBe(1);
			expect(await store.blocks.list()).toEqual([fresh]);
		} finally {
			admin.disconnect();
			await store.close();
			await dropPrefix(url, prefix);
		}
	});
});
