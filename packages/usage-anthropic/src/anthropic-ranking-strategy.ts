import type { CredentialRankingStrategy, UsageLimit, UsageReport } from "@authpool/core";

const HOUR_MS = 3_600_000;

function byId(report: UsageReport, id: string): UsageLimit | undefined {
	return report.limits.find((limit) => limit.id === id);
}

/**
 * Claude ranking: primary is the shared 5-hour window, secondary the shared
 * 7-day one. Every limit (the Opus/Sonnet weeklies too) gates the credential, so there is no
 * `scopeLimits`, no `blockScope` and no priority boost.
 */
export const anthropicRankingStrategy: CredentialRankingStrategy = {
	findWindowLimits(report) {
		const primary = byId(report, "anthropic:5h");
		const secondary = byId(report, "anthropic:7d");
		return { ...(primary ? { primary } : {}), ...(secondary ? { secondary } : {}) };
	},
	windowDefaults: { primaryMs: 5 * HOUR_MS, secondaryMs: 7 * 24 * HOUR_MS },
};
