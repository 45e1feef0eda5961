import type {
	ProviderPlugin,
	UsageCostHistoryEntry,
	UsageFetchContext,
	UsageFetchParams,
	UsageLimit,
	UsageProvider,
	UsageReport,
} from "@authpool/core";
import { statusFromUsedFraction } from "@authpool/core";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** One spend window of the OpenCode Go plan. */
export interface OpencodeGoWindow {
	id: string;
	label: string;
	durationMs: number;
	capUsd: number;
}

/** The plan's fixed windows. */
export const OPENCODE_GO_WINDOWS: readonly OpencodeGoWindow[] = [
	{ id: "rolling-5h", label: "5 Hour limit", durationMs: 5 * HOUR, capUsd: 12 },
	{ id: "weekly", label: "Weekly limit", durationMs: 7 * DAY, capUsd: 30 },
	{ id: "monthly", label: "Monthly limit", durationMs: 30 * DAY, capUsd: 60 },
];

const round6 = (value: number) => Math.round(value * 1e6) / 1e6;

/**
 * Build the spend-derived report from recorded request costs: for each window, the sum of costs recorded
 * within it, against the plan's cap; `resetsAt` is when the oldest cost in the window leaves it.
 */
export function buildOpencodeGoReport(
	costs: readonly UsageCostHistoryEntry[],
	now: number,
	windows: readonly OpencodeGoWindow[] = OPENCODE_GO_WINDOWS,
): UsageReport {
	const limits: UsageLimit[] = windows.map((window) => {
		const since = now - window.durationMs;
		let used = 0;
		let oldest: number | undefined;
		for (const cost of costs) {
			if (cost.recordedAt < since || !Number.isFinite(cost.costUsd)) continue;
			used += cost.costUsd;
			if (oldest === undefined || cost.recordedAt < oldest) oldest = cost.recordedAt;
		}
		used = round6(used);
		// Rounded so that e.g. $9.60 of $12 reads as exactly 80 % (binary floats give 0.7999…).
		const usedFraction = round6(used / window.capUsd);
		return {
			id: window.id,
			label: window.label,
			scope: { provider: "opencode-go", windowId: window.id },
			window: {
				id: window.id,
				label: window.label,
				durationMs: window.durationMs,
				...(oldest !== undefined ? { resetsAt: oldest + window.durationMs } : {}),
			},
			amount: {
				used,
				limit: window.capUsd,
				remaining: round6(Math.max(0, window.capUsd - used)),
				usedFraction,
				remainingFraction: round6(Math.max(0, 1 - usedFraction)),
				unit: "usd",
			},
			status: statusFromUsedFraction(usedFraction, 0.8),
		};
	});
	return {
		provider: "opencode-go",
		fetchedAt: now,
		limits,
		notes: ["Observed spend only; OpenCode usage outside this pool is not included."],
		metadata: { planType: "OpenCode Go", source: "omp-observed-request-costs" },
	};
}

/** Usage provider: no HTTP call; the report comes from costs recorded through `recordUsageCost`. */
export const opencodeGoUsageProvider: UsageProvider = {
	validatesCredentials: false,
	derivedFromCosts: true,
	supports: (params: UsageFetchParams) => params.provider === "opencode-go" && params.credential.type === "api_key",
	async fetchUsage(params: UsageFetchParams, ctx: UsageFetchContext): Promise<UsageReport | null> {
		if (params.provider !== "opencode-go" || params.credential.type !== "api_key") return null;
		const now = ctx.clock.now();
		try {
			const costs = ctx.listUsageCosts
				? await ctx.listUsageCosts({
						provider: "opencode-go",
						...(params.accountKey ? { accountKey: params.accountKey } : {}),
						sinceMs: now - 30 * DAY,
					})
				: [];
			return buildOpencodeGoReport(costs, now);
		} catch (error) {
			ctx.logger.warn("opencode-go: listing recorded costs failed", {
				error: error instanceof Error ? error.name : "unknown",
			});
			return null;
		}
	},
};

/** Build the `opencode-go` plugin (API key from `OPENCODE_API_KEY`). */
export function createOpencodeGoPlugin(): ProviderPlugin {
	return { id: "opencode-go", name: "OpenCode Go", envApiKeys: ["OPENCODE_API_KEY"], usage: opencodeGoUsageProvider };
}

/** The `opencode-go` plugin. */
export const opencodeGo: ProviderPlugin = createOpencodeGoPlugin();
