/** Token bucket per caller (refresh routes): `burst` at once, refilled at `perMinute`. */
export class RateLimiter {
	readonly #buckets = new Map<string, { tokens: number; at: number }>();
	readonly #perMs: number;
	readonly #burst: number;

	constructor(perMinute: number, burst: number) {
		this.#perMs = perMinute / 60_000;
		this.#burst = burst;
	}

	/** `0` when allowed (one token taken); otherwise the ms until a token is available. */
	take(key: string, now: number): number {
		const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, at: now };
		bucket.tokens = Math.min(this.#burst, bucket.tokens + Math.max(0, now - bucket.at) * this.#perMs);
		bucket.at = now;
		this.#buckets.set(key, bucket);
		if (bucket.tokens >= 1) {
			bucket.tokens -= 1;
			return 0;
		}
		return Math.ceil((1 - bucket.tokens) / this.#perMs);
	}
}
