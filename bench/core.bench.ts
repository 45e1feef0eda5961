import { createMemoryStore } from "@authpool/core";
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
