import type { CredentialRankingContext, CredentialRankingStrategy, UsageLimit, UsageReport } from "@authpool/core";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Backend quota counter a model draws from: `anthropic` (claude-*), `google` (gemini-*, gemma-*),
 * `openai` (gpt-*, openai/*); `undefined` for anything else or no model.
 */
export function antigravityCounterKeyForModel(modelId: string | undefined): string | undefined {
	if (!modelId) return undefined;
	const id = modelId.toLowerCase();
	if (id.startsWith("claude-")) return "anthropic";
	if (id.startsWith("gemini-") || id.startsWith("gemma-")) return "google";
	if (id.startsWith("gpt-") || id.startsWith("openai/")) return "openai";
	return undefined;
}

function counterLimits(report: UsageReport, counterKey: string): UsageLimit[] {
	const prefix = `${report.provider}:${counterKey}:`;
	return report.limits.filter((limit) => limit.id.toLowerCase().startsWith(prefix));
}

/**
 * The limits that gate a request for `ctx.modelId`: its counter's limits, else the legacy `default`
 * counter's. Without a known model nothing gates, so a model-less lookup never turns one exhausted
 * family into a block of the whole account.
 */
export function scopeAntigravityLimits(report: UsageReport, ctx?: CredentialRankingContext): UsageLimit[] {
	const counterKey = antigravityCounterKeyForModel(ctx?.modelId);
	if (!counterKey) return [];
	const own = counterLimits(report, counterKey);
	return own.length > 0 ? own : counterLimits(report, "default");
}

/**
 * Ranking for `google-antigravity`. Reports list limits most-pressured first, so the primary is the
 * first scoped limit. There is deliberately no secondary: the pool compares secondaries before
 * primaries, which would rank by some unrelated counter's weekly window instead of the bottleneck.
 * Blocks are scoped per counter so an exhausted Claude counter leaves Gemini models usable.
 */
export const antigravityRankingStrategy: CredentialRankingStrategy = {
	findWindowLimits(report, ctx) {
		const counterKey = antigravityCounterKeyForModel(ctx?.modelId);
		const limits = counterKey ? scopeAntigravityLimits(report, ctx) : report.limits;
		const primary = limits[0];
		return primary ? { primary } : {};
	},
	scopeLimits: scopeAntigravityLimits,
	blockScope(ctx) {
		return `counter:${antigravityCounterKeyForModel(ctx?.modelId) ?? "unknown"}`;
	},
	windowDefaults: { primaryMs: DAY_MS, secondaryMs: DAY_MS },
};
