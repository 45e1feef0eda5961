/**
 * Codex windows as `UsageLimit`s, shared by the `/wham/usage` parser and the `x-codex-*` header
 * parser so both yield identical limits (the pool merges them by id).
 */
import {
	clamp,
	epochToMs,
	percentAmount,
	statusFromUsedFraction,
	type UsageLimit,
	type UsageScope,
	type UsageWindow,
} from "@authpool/core";

/** One window as read off the wire (any unit conversion already done except the reset). */
export interface CodexWindowInput {
	/** 0..100 (clamped). */
	usedPercent?: number;
	limitWindowSeconds?: number;
	/** Epoch seconds, or ms when above 1e12. */
	resetAt?: number;
	resetAfterSeconds?: number;
}

export type CodexWindowKey = "primary" | "secondary";

function plural(count: number, unit: string): string {
	return `${count} ${count === 1 ? unit : `${unit}s`}`;
}

/**
 * Window id/label/duration: ≥ 1 day → `Nd` / "N days"; else `Nh` / "N hours" (at least 1);
 * without a length, `primary`/`secondary` with no duration.
 */
export function buildCodexWindow(input: CodexWindowInput, key: CodexWindowKey, now: number): UsageWindow {
	let resetsAt: number | undefined;
	if (input.resetAt !== undefined) resetsAt = epochToMs(input.resetAt);
	else if (input.resetAfterSeconds !== undefined) resetsAt = now + input.resetAfterSeconds * 1000;
	const reset = resetsAt !== undefined ? { resetsAt } : {};
	const seconds = input.limitWindowSeconds;
	if (seconds === undefined) {
		return { id: key, label: key === "primary" ? "Primary window" : "Secondary window", ...reset };
	}
	if (seconds >= 86_400) {
		const days = Math.round(seconds / 86_400);
		return { id: `${days}d`, label: plural(days, "day"), durationMs: seconds * 1000, ...reset };
	}
	const hours = Math.max(1, Math.round(seconds / 3600));
	return { id: `${hours}h`, label: plural(hours, "hour"), durationMs: seconds * 1000, ...reset };
}

export interface CodexLimitInput {
	key: CodexWindowKey;
	window: CodexWindowInput;
	now: number;
	accountId?: string;
	/** `limit_reached` of the block: both of its windows are exhausted. */
	limitReached?: boolean;
	/** Plan type for main windows; the slug for additional limits. */
	tier?: string;
	/** Additional limits only. */
	slug?: string;
	displayName?: string;
	modelId?: string;
}

/** One Codex limit. */
export function buildCodexLimit(input: CodexLimitInput): UsageLimit {
	const window = buildCodexWindow(input.window, input.key, input.now);
	const used = input.window.usedPercent;
	const amount = percentAmount(used === undefined ? undefined : clamp(used, 0, 100));
	const scope: UsageScope = {
		provider: "openai-codex",
		...(input.accountId ? { accountId: input.accountId } : {}),
		...(input.tier ? { tier: input.tier } : {}),
		...(input.modelId ? { modelId: input.modelId } : {}),
		windowId: window.id,
		shared: true,
	};
	const status = input.limitReached === true ? "exhausted" : statusFromUsedFraction(amount.usedFraction);
	return {
		id: input.slug ? `openai-codex:${input.slug}:${input.key}` : `openai-codex:${input.key}`,
		label: input.slug ? `${window.label} (${input.displayName ?? input.slug})` : window.label,
		scope,
		window,
		amount,
		status,
	};
}
