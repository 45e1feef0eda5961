/**
 * Pure ranking of candidate rows by usage (DESIGN.md §4 "Ranking"; providers.md §1.6).
 *
 * SKELETON — the contract below is fixed; bodies are being implemented.
 */
import type { StoredAuthCredential } from "./types";
import type { CredentialRankingContext, CredentialRankingStrategy, UsageReport } from "./usage/types";

export interface RankCandidate {
	row: StoredAuthCredential;
	report: UsageReport | null;
	/** Epoch ms when the row's applicable block lifts; `undefined` = not blocked. */
	blockedUntil?: number;
}

export interface RankedCandidate extends RankCandidate {
	blocked: boolean;
	planPriority: number;
	hasPriorityBoost: boolean;
	secondaryDrainRate: number;
	secondaryUsed: number;
	primaryDrainRate: number;
	primaryUsed: number;
	/** Position in the input order. */
	order: number;
}

/** Sort candidates (input order = round-robin order); returns a new array, best first. */
export declare function rankCandidates(
	candidates: RankCandidate[],
	strategy: CredentialRankingStrategy,
	context: CredentialRankingContext & { now: number },
): RankedCandidate[];

/**
 * If any scoped limit of the report is exhausted, the block deadline: the earliest future reset of
 * the exhausted limits, or `now + defaultBlockMs` without one. `undefined` when nothing is exhausted.
 */
export declare function exhaustedUntil(
	report: UsageReport,
	strategy: CredentialRankingStrategy | undefined,
	context: CredentialRankingContext & { now: number; defaultBlockMs: number },
): number | undefined;

/** Relative-tolerance compare: `max(1e-9, 1e-6·|x|)`. */
export declare function compareMetric(left: number, right: number): number;
