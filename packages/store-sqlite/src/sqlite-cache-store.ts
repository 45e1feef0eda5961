/**
 * Key/value cache (session pins, usage reports) with millisecond expiry. Cache writes do not bump
 * the change revision: the pool reads the cache on demand, not on reload.
 */
import type { CacheStore } from "@authpool/core";
import { checkStoreInput, storeInputSchemas as input } from "@authpool/core";
import type { SqliteContext } from "./sqlite-context";

const SQL = {
	get: "SELECT value, expires_at FROM auth_cache WHERE key = ?",
	set:
		"INSERT INTO auth_cache (key, value, expires_at) VALUES (?, ?, ?) " +
		"ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
	delete: "DELETE FROM auth_cache WHERE key = ?",
	cleanExpired: "DELETE FROM auth_cache WHERE expires_at <= ?",
} as const;

export function createSqliteCacheStore(ctx: SqliteContext): CacheStore {
	return {
		async get(key, options) {
			ctx.assertOpen("cache.get");
			checkStoreInput(input.key, key, "cache key");
			return ctx.read("cache.get", () => {
				const entry = ctx.statement(SQL.get).get(key) as { value: string; expires_at: number } | undefined;
				if (!entry) return null;
				if (entry.expires_at <= ctx.now() && options?.includeExpired !== true) return null;
				return entry.value;
			});
		},
		async set(key, value, expiresAt) {
			ctx.assertOpen("cache.set");
			checkStoreInput(input.key, key, "cache key");
			checkStoreInput(input.key, value, "cache value");
			checkStoreInput(input.finite, expiresAt, "cache expiry");
			await ctx.write("cache.set", () => ctx.statement(SQL.set).run(key, value, expiresAt));
		},
		// Session pins written behind in batches: one transaction for the whole batch.
		async setMany(entries) {
			ctx.assertOpen("cache.setMany");
			for (const entry of entries) {
				checkStoreInput(input.key, entry.key, "cache key");
				checkStoreInput(input.key, entry.value, "cache value");
				checkStoreInput(input.finite, entry.expiresAt, "cache expiry");
			}
			if (entries.length === 0) return;
			await ctx.write("cache.setMany", () => {
				const statement = ctx.statement(SQL.set);
				for (const entry of entries) statement.run(entry.key, entry.value, entry.expiresAt);
			});
		},
		async delete(key) {
			ctx.assertOpen("cache.delete");
			checkStoreInput(input.key, key, "cache key");
			await ctx.write("cache.delete", () => ctx.statement(SQL.delete).run(key));
		},
		async cleanExpired() {
			return ctx.write("cache.cleanExpired", () => ctx.statement(SQL.cleanExpired).run(ctx.now()).changes);
		},
	};
}
