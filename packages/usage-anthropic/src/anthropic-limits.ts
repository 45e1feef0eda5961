/**
 * Claude usage windows as `UsageLimit`s, shared by the usage endpoint parser and the rate-limit
 * header parser so both produce byte-identical limits (the pool merges them by id).
 */
import { percentAmount, statusFromUsedFraction, type UsageLimit } from "@authpool/core";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The Claude buckets authpool understands. */
export type AnthropicBucketKey = "five_hour" | "seven_day" | "seven_day_opus" | "seven_day_sonnet";

interface BucketShape {
	id: string;
	label: string;
	windowId: string;
	windowLabel: string;
	durationMs: number;
	tier?: string;
}

/** Limit id, label, window and tier of each bucket. */
export const ANTHROPIC_BUCKETS: Readonly<Record<AnthropicBucketKey, BucketShape>> = {
	five_hour: {
		id: "anthropic:5h",
		label: "Claude 5 Hour",
		windowId: "5h",
		windowLabel: "5 Hour",
		durationMs: 5 * HOUR_MS,
	},
	seven_day: {
		id: "anthropic:7d",
		label: "Claude 7 Day",
		windowId: "7d",
		windowLabel: "7 Day",
		durationMs: 7 * DAY_MS,
	},
	seven_day_opus: {
		id: "anthropic:7d:opus",
		label: "Claude 7 Day (Opus)",
		windowId: "7d",
		windowLabel: "7 Day",
		durationMs: 7 * DAY_MS,
		tier: "opus",
	},
	seven_day_sonnet: {
		id: "anthropic:7d:sonnet",
		label: "Claude 7 Day (Sonnet)",
		windowId: "7d",
		windowLabel: "7 Day",
		durationMs: 7 * DAY_MS,
		tier: "sonnet",
	},
};

/**
 * Build the limit of one bucket from a utilization in percent (0..100) and an optional reset
 * (epoch ms). Shared windows are account-wide; the Opus/Sonnet weeklies carry a model-family tier.
 */
export function buildAnthropicLimit(
	key: AnthropicBucketKey,
	utilizationPercent: number,
	resetsAt?: number,
): UsageLimit {
	const shape = ANTHROPIC_BUCKETS[key];
	const amount = percentAmount(utilizationPercent);
	return {
		id: shape.id,
		label: shape.label,
		scope: {
			provider: "anthropic",
			windowId: shape.windowId,
			...(shape.tier ? { tier: shape.tier } : { shared: true }),
		},
		window: {
			id: shape.windowId,
			label: shape.windowLabel,
			durationMs: shape.durationMs,
			...(resetsAt !== undefined ? { resetsAt } : {}),
		},
		amount,
		status: statusFromUsedFraction(amount.usedFraction),
	};
}
