/**
 * Selection v2 benchmarks: every warm path at 10 vs 10,000 rows, ranked selection at 50 vs 500 rows, a new
 * session's first call on SQLite against a warm call, and reload cost per row. Only ratios measured in this
 * run mean anything (the machine is noisy).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	type AccountSelectionMode,
	type AuthCredential,
	type AuthCredentialStore,
	AuthStorage,
	createMemoryStore,
	type ProviderPlugin,
	type UsageReport,
} from "@authpool/core";
import { createSqliteStore } from "@authpool/store-sqlite";
import { section } from "./common";
import { type BenchResult, bench } from "./harness";

const HOUR = 3_600_000;

function plugin(withUsage: boolean): ProviderPlugin {
	return {
		id: "bench",
		oauth: {
			rotatesRefreshToken: true,
			refresh: async () => {
				throw new Error("the warm path must not refresh");
			},
		},
		...(withUsage
			? {
					usage: {
						fetchUsage: async ({ credential }): Promise<UsageReport> => {
							const n = Number((credential.email ?? "0").replace(/\D/g, "")) || 0;
							return {
								provider: "bench",
								fetchedAt: Date.now(),
								limits: [
									{
										id: "5h",
										label: "5h",
										scope: { provider: "bench" },
										window: { id: "5h", label: "5h", durationMs: 5 * HOUR, resetsAt: Date.now() + 4 * HOUR },
										amount: { usedFraction: (n % 97) / 100, unit: "percent" },
										status: "ok",
									},
								],
							};
						},
					},
					ranking: {
						windowDefaults: { primaryMs: 5 * HOUR, secondaryMs: 7 * 24 * HOUR },
						findWindowLimits: (report: UsageReport) => ({ primary: report.limits[0] }),
					},
				}
			: {}),
	};
}

function credentials(type: "oauth" | "api_key", rows: number): AuthCredential[] {
	return Array.from({ length: rows }, (_, i) =>
		type === "oauth"
			? {
					type: "oauth" as const,
					access: `access-${i}`,
					refresh: `refresh-${i}`,
					expires: Date.now() + 24 * HOUR,
					email: `user${i}@example.com`,
				}
			: { type: "api_key" as const, key: `bench-key-${i}` },
	);
}

async function storageWith(
	store: AuthCredentialStore,
	type: "oauth" | "api_key",
	rows: number,
	mode: AccountSelectionMode,
	withUsage = false,
): Promise<AuthStorage> {
	const storage = new AuthStorage(store, {
		providers: [plugin(withUsage)],
		env: {},
		accountSelection: mode,
		maxSessions: 100_000,
	});
	await storage.reload();
	await storage.set("bench", credentials(type, rows));
	await storage.getApiKey("bench", "session-1");
	await storage.getApiKey("bench");
	return storage;
}

const ratioRow = (name: string, small: BenchResult, large: BenchResult) =>
	`| ${name} | ${small.nsPerOp.toFixed(0)} | ${large.nsPerOp.toFixed(0)} | ${(large.nsPerOp / small.nsPerOp).toFixed(2)} |`;

section("selection: flat cost of every warm path (10 vs 10,000 rows)", async () => {
	const lines = [
		"\n## selection: warm paths, 10 rows vs 10,000 rows (memory store)",
		"",
		"| path | ns/op at 10 | ns/op at 10,000 | × (goal ≤ 1.5) |",
		"|---|---:|---:|---:|",
	];
	const cases: Array<{ name: string; type: "oauth" | "api_key"; mode: AccountSelectionMode; session: boolean }> = [
		{ name: "API key, balanced, no session", type: "api_key", mode: "balanced", session: false },
		{ name: "API key, balanced, session", type: "api_key", mode: "balanced", session: true },
		{ name: "API key, fixed, no session", type: "api_key", mode: "fixed", session: false },
		{ name: "API key, fixed, session", type: "api_key", mode: "fixed", session: true },
		{ name: "OAuth, balanced, no session", type: "oauth", mode: "balanced", session: false },
		{ name: "OAuth, balanced, session", type: "oauth", mode: "balanced", session: true },
		{ name: "OAuth, fixed, no session", type: "oauth", mode: "fixed", session: false },
		{ name: "OAuth, fixed, session", type: "oauth", mode: "fixed", session: true },
	];
	for (const c of cases) {
		const results: BenchResult[] = [];
		for (const rows of [10, 10_000]) {
			const storage = await storageWith(createMemoryStore(), c.type, rows, c.mode);
			const sessionId = c.session ? "session-1" : undefined;
			results.push(await bench(`${c.name} @${rows}`, () => storage.getApiKey("bench", sessionId)));
			await storage.close();
		}
		lines.push(ratioRow(c.name, results[0]!, results[1]!));
	}
	return lines.join("\n");
});

section("selection: ranked selection (50 vs 500 rows)", async () => {
	const lines = [
		"\n## selection: usage-ranked selection, 50 rows vs 500 rows (memory store, reports cached)",
		"",
		"| path | ns/op at 50 | ns/op at 500 | × (goal ≤ 3) |",
		"|---|---:|---:|---:|",
	];
	const results: Record<string, BenchResult[]> = { sessionless: [], fresh: [] };
	for (const rows of [50, 500]) {
		const storage = await storageWith(createMemoryStore(), "oauth", rows, "balanced", true);
		await storage.fetchUsageReports();
		results.sessionless!.push(
			await bench(`ranked, no session @${rows}`, () => storage.getApiKey("bench"), { iterations: 2_000 }),
		);
		let n = 0;
		results.fresh!.push(
			await bench(`ranked, new session @${rows}`, () => storage.getApiKey("bench", `fresh-${rows}-${n++}`), {
				iterations: 2_000,
			}),
		);
		await storage.close();
	}
	lines.push(ratioRow("ranked, no session", results.sessionless![0]!, results.sessionless![1]!));
	lines.push(ratioRow("ranked, new session", results.fresh![0]!, results.fresh![1]!));
	return lines.join("\n");
});

section("selection: sqlite new session's first call vs warm call", async () => {
	const dir = mkdtempSync(join(tmpdir(), "authpool-bench-"));
	try {
		const store = await createSqliteStore({ path: join(dir, "sessions.db") });
		const storage = await storageWith(store, "oauth", 10, "balanced");
		const warm = await bench("warm call (same session)", () => storage.getApiKey("bench", "session-1"));
		let n = 0;
		const first = await bench("first call of a new session", () => storage.getApiKey("bench", `new-${n++}`), {
			iterations: 5_000,
		});
		// The same warm call with 10,000 sessions in memory (a busy gateway): a session lookup must not
		// grow with the number of sessions held.
		while (n < 10_000) await storage.getApiKey("bench", `new-${n++}`);
		const held = await bench("warm call (same session), 10,000 sessions held", () =>
			storage.getApiKey("bench", "session-1"),
		);
		await storage.close();
		await store.close();
		return [
			"\n## selection: a new session's first call on SQLite (pins written behind in batches)",
			"",
			"| case | ns/op | × warm (goal ≤ 3) |",
			"|---|---:|---:|",
			`| ${warm.name} | ${warm.nsPerOp.toFixed(0)} | 1.00 |`,
			`| ${first.name} | ${first.nsPerOp.toFixed(0)} | ${(first.nsPerOp / warm.nsPerOp).toFixed(2)} |`,
			`| ${held.name} | ${held.nsPerOp.toFixed(0)} | ${(held.nsPerOp / warm.nsPerOp).toFixed(2)} |`,
		].join("\n");
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});

section("selection: reload cost per row (100,000 rows)", async () => {
	const dir = mkdtempSync(join(tmpdir(), "authpool-bench-"));
	try {
		const lines = [
			"\n## selection: reload of 100,000 rows",
			"",
			"| store | µs per row (goal ≤ 4) | × 1,000-row reload per row |",
			"|---|---:|---:|",
		];
		for (const kind of ["memory", "sqlite"] as const) {
			const perRow: number[] = [];
			for (const rows of [1_000, 100_000]) {
				const store =
					kind === "memory" ? createMemoryStore() : await createSqliteStore({ path: join(dir, `reload-${rows}.db`) });
				const writer = new AuthStorage(store, { env: {} });
				await writer.reload();
				await writer.set("bench", credentials("api_key", rows));
				const result = await bench(
					`${kind} reload ${rows}`,
					async () => {
						const storage = new AuthStorage(store, { env: {} });
						await storage.reload();
					},
					{ iterations: 1, batches: 5, warmup: 1 },
				);
				perRow.push(result.nsPerOp / rows / 1000);
				await store.close();
			}
			lines.push(`| ${kind} | ${perRow[1]!.toFixed(2)} | ${(perRow[1]! / perRow[0]!).toFixed(2)} |`);
		}
		return lines.join("\n");
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});
