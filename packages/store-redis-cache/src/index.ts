export type { RedisCacheOptions, RedisConnection } from "./options";
export {
	EXPIRED_CACHE_GRACE_MS,
	type RedisCacheControl,
	type RedisCachedStore,
	withRedisCache,
} from "./redis-cache-store";
