import type { CredentialRankingStrategy, UsageLimit, UsageReport } from "@authpool/core";

const HOUR_MS = 3_600_000;
const FIVE_HOURS_MS = 5 * HOUR_MS;

function findWindow(report: UsageReport, key: "primary" | "secondary"): UsageLimit | undefined {
	const fallbackWindowId = key === "primary" ? "1h" : "7d";
	return (
		report.limits.find((limit) => limit.id === `openai-codex:${key}`) ??
		report.limits.find((limit) => limit.id.includes(key)) ??
		report.limits.find((limit) => limit.scope.windowId === fallbackWindowId)
	);
}

function isFiveHourWindow(limit: UsageLimit): boolean {
	if (limit.scope.windowId === "5h" || limit.window?.id === "5h") return true;
	const duration = limit.window?.durationMs;
	return duration !== undefined && Math.abs(duration - FIVE_HOURS_MS) <= 60_000;
}

function planOf(report: UsageReport | null): string | undefined {
	if (!report) return undefined;
	const fromMetadata = report.metadata?.planType;
	if (typeof fromMetadata === "string" && fromMetadata.trim()) return fromMetadata;
	return report.limits.find((limit) => limit.id === "openai-codex:primary")?.scope.tier;
}

/**
 * Codex ranking: primary/secondary windows by id, then by id fragment, then
 * by window id (`1h` / `7d`). An untouched 5-hour window gets a priority boost (its ticker has not
 * started). `-spark` models prefer Pro plans. Every limit gates the credential (no scope, no
 * block scope).
 */
export const codexRankingStrategy: CredentialRankingStrategy = {
	findWindowLimits(report) {
		const primary = findWindow(report, "primary");
		const secondary = findWindow(report, "secondary");
		return { ...(primary ? { primary } : {}), ...(secondary ? { secondary } : {}) };
	},
	windowDefaults: { primaryMs: HOUR_MS, secondaryMs: 7 * 24 * HOUR_MS },
	hasPriorityBoost(primary) {
		return primary !== undefined && isFiveHourWindow(primary) && primary.amount.usedFraction === 0;
	},
	planPriority(report, ctx) {
		if (!ctx?.modelId?.toLowerCase().includes("-spark")) return undefined;
		const plan = planOf(report);
		if (plan === undefined) return 1;
		return plan.toLowerCase().includes("pro") ? 0 : 2;
	},
};
