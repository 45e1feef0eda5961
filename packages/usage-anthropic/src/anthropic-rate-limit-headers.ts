import { toNumber, type UsageLimit, type UsageReport } from "@authpool/core";
import { type AnthropicBucketKey, buildAnthropicLimit } from "./anthropic-limits";

const HEADER_WINDOWS: ReadonlyArray<[string, AnthropicBucketKey]> = [
	["5h", "five_hour"],
	["7d", "seven_day"],
];

/**
 * Turn Anthropic's `anthropic-ratelimit-unified-{5h,7d}-{utilization,reset}` response headers
 * (keys lower-cased; utilization is a 0..1 fraction, reset is epoch seconds) into the same
 * `anthropic:5h` / `anthropic:7d` limits the usage endpoint yields. `null` when neither window
 * carries a utilization.
 *
 * @example
 * parseAnthropicRateLimitHeaders({ "anthropic-ratelimit-unified-5h-utilization": "0.37" }, Date.now());
 */
export function parseAnthropicRateLimitHeaders(headers: Record<string, string>, now: number): UsageReport | null {
	const limits: UsageLimit[] = [];
	for (const [window, key] of HEADER_WINDOWS) {
		const fraction = toNumber(headers[`anthropic-ratelimit-unified-${window}-utilization`]);
		if (fraction === undefined) continue;
		const resetSeconds = toNumber(headers[`anthropic-ratelimit-unified-${window}-reset`]);
		const resetsAt = resetSeconds !== undefined && resetSeconds > 0 ? resetSeconds * 1000 : undefined;
		limits.push(buildAnthropicLimit(key, fraction * 100, resetsAt));
	}
	if (limits.length === 0) return null;
	return { provider: "anthropic", fetchedAt: now, limits, metadata: { source: "ratelimit-headers" } };
}
