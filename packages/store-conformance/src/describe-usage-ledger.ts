import type { AuthCredentialStore, ObservedUsageEntry, UsageHistoryEntry, UsageLedgerStore } from "@authpool/core";
import { describe, expect } from "vitest";
import { itWhen, itWhenOffered, resolveCapabilities, resolveOptionalMethods, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";
import { CONFORMANCE_START_MS } from "./test-clock";

const HOUR = 3_600_000;
/** The start of an hour bucket, so offsets inside it stay inside it. */
const T0 = Math.floor(CONFORMANCE_START_MS / HOUR) * HOUR;

function ledgerOf(store: AuthCredentialStore): UsageLedgerStore {
	expect(store.ledger, "a store declaring the usageLedger capability must expose store.ledger").toBeDefined();
	return store.ledger!;
}

function snapshot(overrides: Partial<UsageHistoryEntry> = {}): UsageHistoryEntry {
	return {
		recordedAt: T0,
		provider: "anthropic",
		accountKey: "oauth|email:a@example.com",
		limitId: "five_hour",
		label: "5 hour",
		usedFraction: 0.1,
		...overrides,
	};
}

/** Usage ledger: one snapshot per account+limit per hour, costs, filters, oldest first. */
export function describeUsageLedger(options: StoreConformanceOptions): void {
	describe("usage ledger", async () => {
		const capabilities = await resolveCapabilities(options);
		const harness = useStoreHarness(options);
		const test = itWhen(capabilities, "usageLedger");

		test("a later snapshot in the same hour replaces the earlier one; the next hour adds a row", async () => {
			const { store } = await harness.open();
			const ledger = ledgerOf(store);
			await ledger.recordUsageSnapshots([snapshot({ recordedAt: T0 + 60_000, usedFraction: 0.1 })]);
			const later = snapshot({ recordedAt: T0 + 30 * 60_000, usedFraction: 0.3, status: "ok" });
			await ledger.recordUsageSnapshots([later]);
			expect(await ledger.listUsageHistory()).toEqual([later]);
			const nextHour = snapshot({ recordedAt: T0 + HOUR, usedFraction: 0.5 });
			await ledger.recordUsageSnapshots([nextHour]);
			expect(await ledger.listUsageHistory()).toEqual([later, nextHour]);
		});

		test("different limits and accounts in one hour are separate rows, with optional fields kept", async () => {
			const { store } = await harness.open();
			const ledger = ledgerOf(store);
			const full = snapshot({
				email: "a@example.com",
				accountId: "acct-1",
				windowLabel: "5h",
				usedFraction: 1,
				status: "exhausted",
				resetsAt: T0 + 2 * HOUR,
			});
			const weekly = snapshot({ recordedAt: T0 + 1, limitId: "seven_day", label: "7 day" });
			const otherAccount = snapshot({ recordedAt: T0 + 2, accountKey: "oauth|email:b@example.com" });
			await ledger.recordUsageSnapshots([full, weekly, otherAccount]);
			expect(await ledger.listUsageHistory()).toEqual([full, weekly, otherAccount]);
		});

		test("history lists oldest first and filters by provider and inclusive sinceMs", async () => {
			const { store } = await harness.open();
			const ledger = ledgerOf(store);
			const third = snapshot({ recordedAt: T0 + 2 * HOUR });
			const first = snapshot({ recordedAt: T0 });
			const codex = snapshot({ recordedAt: T0 + HOUR, provider: "openai-codex", accountKey: "oauth|account:x" });
			await ledger.recordUsageSnapshots([third]);
			await ledger.recordUsageSnapshots([first, codex]);
			expect(await ledger.listUsageHistory()).toEqual([first, codex, third]);
			expect(await ledger.listUsageHistory({ provider: "anthropic" })).toEqual([first, third]);
			expect(await ledger.listUsageHistory({ sinceMs: T0 + HOUR })).toEqual([codex, third]);
			expect(await ledger.listUsageHistory({ provider: "anthropic", sinceMs: T0 + 1 })).toEqual([third]);
		});

		test("costs are all kept, listed oldest first, filtered by provider, account and inclusive sinceMs", async () => {
			const { store } = await harness.open();
			const ledger = ledgerOf(store);
			const c3 = { recordedAt: T0 + 3_000, provider: "opencode-go", accountKey: "acct-b", costUsd: 0.5 };
			const c1 = { recordedAt: T0 + 1_000, provider: "opencode-go", accountKey: "acct-a", costUsd: 0.25 };
			const c2 = { recordedAt: T0 + 2_000, provider: "opencode-go", accountKey: "acct-a", costUsd: 0.125 };
			const other = { recordedAt: T0 + 2_500, provider: "other", accountKey: "acct-a", costUsd: 1 };
			await ledger.recordUsageCosts([c3, c1]);
			await ledger.recordUsageCosts([c2, other]);
			expect(await ledger.listUsageCosts()).toEqual([c1, c2, other, c3]);
			expect(await ledger.listUsageCosts({ provider: "opencode-go" })).toEqual([c1, c2, c3]);
			expect(await ledger.listUsageCosts({ accountKey: "acct-a" })).toEqual([c1, c2, other]);
			expect(await ledger.listUsageCosts({ provider: "opencode-go", sinceMs: T0 + 2_000 })).toEqual([c2, c3]);
		});
	});
}

function observed(overrides: Partial<ObservedUsageEntry> = {}): ObservedUsageEntry {
	return {
		at: T0 + 60_000,
		provider: "anthropic",
		model: "claude-sonnet",
		requests: 1,
		inputTokens: 100,
		outputTokens: 20,
		cacheReadTokens: 5,
		cacheWriteTokens: 1,
		costUsd: 0.25,
		...overrides,
	};
}

/** The optional client-observed usage of the ledger: hourly buckets per install, summed per provider. */
export function describeClientUsage(options: StoreConformanceOptions): void {
	describe("client-observed usage (optional ledger.recordClientUsage)", async () => {
		const harness = useStoreHarness(options);
		const offered = await resolveOptionalMethods(options);
		const test = itWhenOffered(offered, "ledger.recordClientUsage");
		const twoInstances = offered.has("ledger.recordClientUsage")
			? itWhen(await resolveCapabilities(options), "sharedAcrossInstances")
			: test;

		test("reports add up per install and provider (models and hours summed); first and last seen; latest host name", async () => {
			const { store } = await harness.open();
			const ledger = ledgerOf(store);
			await ledger.recordClientUsage!({
				installId: "laptop-1",
				hostname: "old-name",
				app: "cli",
				entries: [observed(), observed({ model: "claude-opus", at: T0 + 120_000, requests: 2, costUsd: 1 })],
			});
			await ledger.recordClientUsage!({
				installId: "laptop-1",
				hostname: "new-name",
				app: "cli",
				entries: [observed({ at: T0 + HOUR + 5_000 }), observed({ provider: "openai-codex", at: T0 + 90_000 })],
			});
			await ledger.recordClientUsage!({ installId: "ci-7", entries: [observed({ at: T0 + 2 * HOUR })] });

			const summaries = await ledger.listClientUsage!();
			expect(summaries).toEqual([
				{
					installId: "ci-7",
					firstSeen: T0 + 2 * HOUR,
					lastSeen: T0 + 2 * HOUR,
					providers: [
						{
							provider: "anthropic",
							requests: 1,
							inputTokens: 100,
							outputTokens: 20,
							cacheReadTokens: 5,
							cacheWriteTokens: 1,
							costUsd: 0.25,
						},
					],
				},
				{
					installId: "laptop-1",
					hostname: "new-name",
					firstSeen: T0 + 60_000,
					lastSeen: T0 + HOUR + 5_000,
					providers: [
						{
							app: "cli",
							provider: "anthropic",
							requests: 4,
							inputTokens: 300,
							outputTokens: 60,
							cacheReadTokens: 15,
							cacheWriteTokens: 3,
							costUsd: 1.5,
						},
						{
							app: "cli",
							provider: "openai-codex",
							requests: 1,
							inputTokens: 100,
							outputTokens: 20,
							cacheReadTokens: 5,
							cacheWriteTokens: 1,
							costUsd: 0.25,
						},
					],
				},
			]);
			// Hour granularity: since a time inside the second hour keeps that hour's buckets only.
			const recent = await ledger.listClientUsage!({ sinceMs: T0 + HOUR + 30 * 60_000 });
			expect(recent.map((summary) => [summary.installId, summary.providers.map((p) => p.requests)])).toEqual([
				["ci-7", [1]],
				["laptop-1", [1]],
			]);
		});

		test("bad reports are typed errors and add nothing", async () => {
			const { store } = await harness.open();
			const ledger = ledgerOf(store);
			const bad: unknown[] = [
				{ installId: "", entries: [] },
				{ installId: "x", entries: [observed({ requests: -1 })] },
				{ installId: "x", entries: [observed({ provider: "Not A Provider" })] },
				{ installId: "x", entries: [observed({ costUsd: Number.NaN })] },
				{ installId: "x", entries: [observed(), { ...observed(), inputTokens: "5" }] },
				{ installId: "bad\nid", entries: [observed()] },
			];
			for (const report of bad) {
				await expect(ledger.recordClientUsage!(report as never)).rejects.toMatchObject({ code: "INVALID_INPUT" });
			}
			expect(await ledger.listClientUsage!()).toEqual([]);
		});

		twoInstances("two instances adding into one bucket at once lose nothing", async () => {
			const { a, b } = await harness.openPair();
			await Promise.all(
				Array.from({ length: 20 }, (_, index) =>
					(index % 2 === 0 ? a : b).ledger!.recordClientUsage!({ installId: "gateway", entries: [observed()] }),
				),
			);
			const [summary] = await a.ledger!.listClientUsage!();
			expect(summary?.providers[0]).toMatchObject({ requests: 20, inputTokens: 2_000, costUsd: 5 });
		});
	});
}
