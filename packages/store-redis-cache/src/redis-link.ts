/**
 * The command connection with a health state: every call is bounded by `timeoutMs`; a failure marks
 * Redis down for `retryAfterMs` (calls then fail at once, no waiting), logs one rate-limited warning,
 * and the first success or `ready` event afterwards marks it up again and runs `onRecover`.
 *
 * A command is only sent on a `ready` connection: a caller's client with an offline queue would
 * otherwise run a timed-out command late (a lease written after its caller already gave up on it).
 */
import type { Logger } from "@authpool/core";
import type { Redis } from "ioredis";

export type LinkResult<T> = { ok: true; value: T } | { ok: false };

export interface RedisLinkOptions {
	client: Redis;
	logger: Logger | undefined;
	timeoutMs: number;
	retryAfterMs: number;
	warnIntervalMs: number;
	onRecover(): void;
	onDown(): void;
}

class RedisTimeoutError extends Error {
	readonly code = "REDIS_TIMEOUT";
}

function errorCode(error: unknown): string {
	if (typeof error === "object" && error !== null) {
		const code = (error as { code?: unknown }).code;
		if (typeof code === "string") return code;
		const name = (error as { name?: unknown }).name;
		if (typeof name === "string") return name;
	}
	return "unknown";
}

export class RedisLink {
	readonly client: Redis;
	#options: RedisLinkOptions;
	#up = true;
	#skipUntil = 0;
	#lastWarn = Number.NEGATIVE_INFINITY;
	#everReady: boolean;
	#closed = false;
	#readyWait: Promise<void> | undefined;
	/** Failures since the layer was created (for tests and metrics). */
	failures = 0;

	constructor(options: RedisLinkOptions) {
		this.client = options.client;
		this.#options = options;
		this.#everReady = options.client.status === "ready";
		options.client.on("ready", () => {
			this.#everReady = true;
			if (!this.#up) this.#markUp();
		});
		options.client.on("error", (error: unknown) => this.#markDown(error));
		options.client.on("close", () => {
			if (!this.#closed && this.#everReady) this.#markDown(new Error("connection closed"));
		});
	}

	/** Whether Redis is believed reachable right now. */
	get available(): boolean {
		return this.#up && this.client.status === "ready";
	}

	close(): void {
		this.#closed = true;
	}

	/** Run one Redis operation within the deadline; `{ ok: false }` (never a throw) when Redis is unusable. */
	async run<T>(fn: (client: Redis) => Promise<T>): Promise<LinkResult<T>> {
		if (this.#closed) return { ok: false };
		if (!this.#up && performance.now() < this.#skipUntil) return { ok: false };
		const started = performance.now();
		try {
			if (this.client.status !== "ready") {
				// Before the very first connection, wait for it (within the deadline); afterwards a
				// non-ready connection means Redis is away: fail at once.
				if (this.#everReady || !["connecting", "connect", "wait"].includes(this.client.status)) {
					throw new Error(`redis connection is ${this.client.status}`);
				}
				await this.#bounded(this.#ready(), this.#options.timeoutMs);
			}
			const remaining = Math.max(1, this.#options.timeoutMs - (performance.now() - started));
			const value = await this.#bounded(fn(this.client), remaining);
			if (!this.#up) this.#markUp();
			return { ok: true, value };
		} catch (error) {
			this.#markDown(error);
			return { ok: false };
		}
	}

	/** One shared wait for the first connection (many callers, one pair of listeners). */
	#ready(): Promise<void> {
		if (!this.#readyWait) {
			this.#readyWait = new Promise<void>((resolve, reject) => {
				const onReady = () => {
					this.client.off("end", onEnd);
					resolve();
				};
				const onEnd = () => {
					this.client.off("ready", onReady);
					reject(new Error("redis connection ended"));
				};
				this.client.once("ready", onReady);
				this.client.once("end", onEnd);
			}).finally(() => {
				this.#readyWait = undefined;
			});
		}
		return this.#readyWait;
	}

	#bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
		let timer: NodeJS.Timeout | undefined;
		const timeout = new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new RedisTimeoutError(`redis did not answer within ${ms} ms`)), ms);
		});
		// The losing side of the race must not surface as an unhandled rejection later.
		promise.catch(() => undefined);
		return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
	}

	#markDown(error: unknown): void {
		if (this.#closed) return;
		this.failures++;
		this.#skipUntil = performance.now() + this.#options.retryAfterMs;
		const wasUp = this.#up;
		this.#up = false;
		const now = performance.now();
		if (now - this.#lastWarn >= this.#options.warnIntervalMs) {
			this.#lastWarn = now;
			this.#options.logger?.warn("redis unavailable: serving from the wrapped store", { error: errorCode(error) });
		}
		if (wasUp) this.#options.onDown();
	}

	#markUp(): void {
		if (this.#closed) return;
		this.#up = true;
		this.#skipUntil = 0;
		this.#options.logger?.info("redis reachable again: resynchronising");
		this.#options.onRecover();
	}
}
