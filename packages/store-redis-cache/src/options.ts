/**
 * Arguments of `withRedisCache`, validated with zod at construction.
 */
import { type Clock, invalidOptions, type Logger } from "@authpool/core";
import type { Redis } from "ioredis";
import { z } from "zod";

/** Where the layer connects: a URL (the layer owns its connections) or a caller's ioredis client. */
export type RedisConnection = { url: string } | { client: Redis };

/** Options of {@link withRedisCache}. */
export interface RedisCacheOptions {
	/**
	 * Prefix of every key and of the pub/sub channel. Instances sharing one pool use the same prefix;
	 * unrelated pools on one Redis use different ones. @default "authpool:"
	 */
	prefix?: string;
	/** Receives one rate-limited warning per outage and an info line on recovery; never a secret. @default silent */
	logger?: Logger;
	/** Bound of every Redis command; past it the operation is served by the wrapped store. @default 250 */
	timeoutMs?: number;
	/** After a failure, Redis is skipped (no waiting) for this long before it is tried again. @default 1000 */
	retryAfterMs?: number;
	/** At most one "Redis unavailable" warning per this interval. @default 60000 */
	warnIntervalMs?: number;
	/**
	 * Time source for expiries (cache, blocks, leases): give the wrapped store's clock. @default Date.now
	 */
	clock?: Clock;
}

const fn = z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", {
	message: "expected a function",
});

const connectionSchema = z.union([
	z.object({ url: z.string().regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL") }).strict(),
	z
		.object({
			client: z.custom<Redis>(
				(v) =>
					typeof (v as { eval?: unknown })?.eval === "function" &&
					typeof (v as { duplicate?: unknown })?.duplicate === "function",
				"expected an ioredis client",
			),
		})
		.strict(),
]);

const optionsSchema = z
	.object({
		prefix: z
			.string()
			.regex(/^[A-Za-z0-9_.:{}-]{1,64}$/, "expected 1-64 characters of letters, digits and _ . : - { }")
			.optional(),
		logger: z.object({ debug: fn, info: fn, warn: fn, error: fn }).optional(),
		timeoutMs: z.number().int().min(10).max(60_000).optional(),
		retryAfterMs: z.number().int().min(0).max(600_000).optional(),
		warnIntervalMs: z.number().int().min(0).max(86_400_000).optional(),
		clock: z.object({ now: fn }).optional(),
	})
	.strict();

export interface ResolvedRedisCacheOptions {
	connection: RedisConnection;
	prefix: string;
	logger: Logger | undefined;
	timeoutMs: number;
	retryAfterMs: number;
	warnIntervalMs: number;
	clock: Clock | undefined;
}

/** Validate and default; throws `INVALID_OPTIONS` listing `path: message` (never the values: a URL may hold a password). */
export function parseRedisCacheOptions(connection: unknown, options: unknown): ResolvedRedisCacheOptions {
	const conn = connectionSchema.safeParse(connection);
	if (!conn.success) {
		throw invalidOptions("withRedisCache connection", [
			{ path: [], message: "give exactly one of `url` (redis:// or rediss://) or `client` (an ioredis client)" },
		]);
	}
	const parsed = optionsSchema.safeParse(options ?? {});
	if (!parsed.success) throw invalidOptions("withRedisCache", parsed.error.issues);
	const value = parsed.data;
	const given = (options ?? {}) as { clock?: Clock; logger?: Logger };
	return {
		connection: connection as RedisConnection,
		prefix: value.prefix ?? "authpool:",
		logger: given.logger,
		timeoutMs: value.timeoutMs ?? 250,
		retryAfterMs: value.retryAfterMs ?? 1000,
		warnIntervalMs: value.warnIntervalMs ?? 60_000,
		clock: given.clock,
	};
}
