import { toNumber, type UsageLimit, type UsageReport } from "@authpool/core";
import { buildCodexLimit, type CodexWindowInput, type CodexWindowKey } from "./codex-limits";

const KEYS: readonly CodexWindowKey[] = ["primary", "secondary"];

/**
 * Turn Codex's `x-codex-{primary,secondary}-{used-percent,window-minutes,reset-at,
 * reset-after-seconds}` response headers (keys lower-cased; reset-at in epoch seconds) into
 * `openai-codex:primary` / `openai-codex:secondary` limits built exactly like the usage payload's,
 * with the plan from `x-codex-plan-type` as tier. `null` when no window header is present.
 *
 * @example
 * parseCodexRateLimitHeaders({ "x-codex-primary-used-percent": "23", "x-codex-primary-window-minutes": "300" }, Date.now());
 */
export function parseCodexRateLimitHeaders(headers: Record<string, string>, now: number): UsageReport | null {
	const plan = headers["x-codex-plan-type"]?.trim() || undefined;
	const limits: UsageLimit[] = [];
	for (const key of KEYS) {
		const usedPercent = toNumber(headers[`x-codex-${key}-used-percent`]);
		const minutes = toNumber(headers[`x-codex-${key}-window-minutes`]);
		const resetAt = toNumber(headers[`x-codex-${key}-reset-at`]);
		const resetAfterSeconds = toNumber(headers[`x-codex-${key}-reset-after-seconds`]);
		const window: CodexWindowInput = {};
		if (usedPercent !== undefined) window.usedPercent = usedPercent;
		if (minutes !== undefined) window.limitWindowSeconds = minutes * 60;
		if (resetAt !== undefined) window.resetAt = resetAt;
		if (resetAfterSeconds !== undefined) window.resetAfterSeconds = resetAfterSeconds;
		if (Object.keys(window).length === 0) continue;
		limits.push(buildCodexLimit({ key, window, now, ...(plan ? { tier: plan } : {}) }));
	}
	if (limits.length === 0) return null;
	return {
		provider: "openai-codex",
		fetchedAt: now,
		limits,
		metadata: { source: "ratelimit-headers", ...(plan ? { planType: plan } : {}) },
	};
}
