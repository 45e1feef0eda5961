import { AuthStorage, createMemoryStore, type ProviderPlugin } from "@authpool/core";
import { baselines, section, warmStorage } from "./common";
import { type BenchResult, bench, table } from "./harness";

section("core: getApiKey hot path on the memory store", async () => {
	const { asyncMapGet, mapGet } = await baselines();
	const results: BenchResult[] = [mapGet];
	for (const rows of [1, 3, 10, 50]) {
		const storage = await warmStorage(createMemoryStore(), rows);
		results.push(await bench(`memory, ${rows} rows, with session`, () => storage.getApiKey("bench", "session-1")));
		results.push(await bench(`memory, ${rows} rows, no session`, () => storage.getApiKey("bench")));
		await storage.close();
	}
	return table("core: getApiKey hot path (fresh OAuth), memory store", results, asyncMapGet);
});

section("core: one expired row, 1,000 concurrent callers", async () => {
	let refreshes = 0;
	const plugin: ProviderPlugin = {
		id: "bench-expired",
		oauth: {
			rotatesRefreshToken: true,
			refresh: async (credential) => {
				refreshes += 1;
				// A token endpoint answering in ~5 ms.
				await new Promise((resolve) => setTimeout(resolve, 5));
				return { access: `${credential.access}+`, refresh: `${credential.refresh}+`, expires: Date.now() + 3_600_000 };
			},
		},
	};
	const rounds = 20;
	let elapsedNs = 0n;
	for (let round = 0; round < rounds; round += 1) {
		const store = createMemoryStore();
		const storage = new AuthStorage(store, { providers: [plugin], env: {} });
		await storage.reload();
		await storage.set("bench-expired", { type: "oauth", access: "a", refresh: "r", expires: Date.now() - 1 });
		const start = process.hrtime.bigint();
		await Promise.all(Array.from({ length: 1000 }, (_, i) => storage.getApiKey("bench-expired", `s-${i % 50}`)));
		elapsedNs += process.hrtime.bigint() - start;
		await storage.close();
	}
	const perRound = Number(elapsedNs / BigInt(rounds)) / 1e6;
	return [
		"\n## core: one expired row, 1,000 concurrent callers (memory store, 5 ms token endpoint)",
		"",
		`upstream refreshes: ${refreshes} in ${rounds} rounds (${refreshes / rounds} per expiry)`,
		`wall time per round: ${perRound.toFixed(1)} ms (the token endpoint alone takes ≥ 5 ms)`,
	].join("\n");
});

section("core: getApiKey with usage ranking (fresh reports in memory)", async () => {
	const window = (id: string, durationMs: number, resetsIn: number) => ({
		id,
		label: id,
		durationMs,
		resetsAt: Date.now() + resetsIn,
	});
	const plugin: ProviderPlugin = {
		id: "bench-ranked",
		ranking: {
			windowDefaults: { primaryMs: 5 * 3_600_000, secondaryMs: 7 * 86_400_000 },
			findWindowLimits: (report) => ({ primary: report.limits[0], secondary: report.limits[1] }),
		},
		usage: {
			fetchUsage: async (_params, ctx) => ({
				provider: "bench-ranked",
				fetchedAt: ctx.clock.now(),
				limits: [
					{
						id: "5h",
						label: "5h",
						scope: { provider: "bench-ranked" },
						window: window("5h", 5 * 3_600_000, 3_600_000),
						amount: { unit: "percent", usedFraction: Math.random() },
					},
					{
						id: "7d",
						label: "7d",
						scope: { provider: "bench-ranked" },
						window: window("7d", 7 * 86_400_000, 86_400_000),
						amount: { unit: "percent", usedFraction: Math.random() },
					},
				],
			}),
		},
		oauth: {
			rotatesRefreshToken: true,
			refresh: async () => {
				throw new Error("no refresh expected");
			},
		},
	};
	const { asyncMapGet } = await baselines();
	const results: BenchResult[] = [];
	for (const rows of [3, 10, 50]) {
		const storage = new AuthStorage(createMemoryStore(), { providers: [plugin], env: {} });
		await storage.reload();
		await storage.set(
			"bench-ranked",
			Array.from({ length: rows }, (_, i) => ({
				type: "oauth" as const,
				access: `a${i}`,
				refresh: `r${i}`,
				expires: Date.now() + 86_400_000,
				email: `u${i}@example.com`,
			})),
		);
		await storage.getApiKey("bench-ranked");
		results.push(
			await bench(`${rows} rows, no session (ranked every call)`, () => storage.getApiKey("bench-ranked"), {
				iterations: 5_000,
			}),
		);
		let session = 0;
		results.push(
			await bench(
				`${rows} rows, a new session every call (rank + weighted draw + pin write)`,
				() => storage.getApiKey("bench-ranked", `s-${session++}`),
				{ iterations: 5_000 },
			),
		);
		await storage.close();
	}
	return table("core: getApiKey with usage ranking, memory store", results, asyncMapGet);
});
