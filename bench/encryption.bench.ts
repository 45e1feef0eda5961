/**
 * Encryption at rest on the SQLite store: the warm `getApiKey` path with and without `withEncryption`
 * (decryption happens when rows are loaded or changed, never per call, so the ratio should be ~1×), and
 * a reload of 10,000 rows, sealed vs plain: cold (a fresh process: every row opened and verified) and
 * warm (a reload after a change elsewhere: unchanged rows come from the wrapper's opened-row cache).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AuthCredentialStore, AuthStorage, type ProviderPlugin, withEncryption } from "@authpool/core";
import { createSqliteStore } from "@authpool/store-sqlite";
import { section, warmStorage } from "./common";
import { type BenchResult, bench, table } from "./harness";

// Obviously fake key: constant bytes.
const keys = new Map([["bench", Buffer.alloc(32, 0x42)]]);
const RELOAD_ROWS = 10_000;
const HOUR = 3_600_000;

const plugin: ProviderPlugin = {
	id: "bench",
	oauth: {
		rotatesRefreshToken: true,
		refresh: async () => {
			throw new Error("the benchmark must not refresh");
		},
	},
};

/** The store without its `close`: many short-lived AuthStorage instances share one open file. */
function unclosable(store: AuthCredentialStore): AuthCredentialStore {
	return { ...store, close: async () => {} };
}

section("encryption: warm getApiKey and 10,000-row reload, sealed vs plain (sqlite)", async () => {
	const dir = mkdtempSync(join(tmpdir(), "authpool-bench-enc-"));
	try {
		const hot: BenchResult[] = [];
		for (const sealed of [false, true]) {
			const sqlite = await createSqliteStore({ path: join(dir, `hot-${sealed}.db`) });
			const store = sealed ? withEncryption(sqlite, { keys, activeKeyId: "bench" }) : sqlite;
			const storage = await warmStorage(store, 10);
			const label = sealed ? "encrypted" : "plain";
			hot.push(await bench(`getApiKey, 10 rows, session, ${label}`, () => storage.getApiKey("bench", "session-1")));
			hot.push(await bench(`getApiKey, 10 rows, no session, ${label}`, () => storage.getApiKey("bench")));
			await storage.close();
		}
		const hotTable = table("encryption: warm getApiKey (sqlite), against plain with session", hot, hot[0]!);

		// Reloads are timed in CPU time of this process, plain and encrypted interleaved round by round, so
		// a noisy neighbour on this shared 2-core machine weighs on both sides alike; medians are reported.
		const credentials = Array.from({ length: RELOAD_ROWS }, (_, i) => ({
			type: "oauth" as const,
			access: `access-${i}`,
			refresh: `refresh-${i}`,
			expires: Date.now() + 24 * HOUR,
			email: `user${i}@example.com`,
		}));
		const sides = await Promise.all(
			[false, true].map(async (sealed) => {
				const sqlite = await createSqliteStore({ path: join(dir, `reload-${sealed}.db`) });
				const wrapped = sealed ? withEncryption(sqlite, { keys, activeKeyId: "bench" }) : sqlite;
				await wrapped.rows.replaceProvider("bench", credentials);
				const inner = unclosable(sqlite);
				const fresh = () => (sealed ? withEncryption(inner, { keys, activeKeyId: "bench" }) : inner);
				const warm = new AuthStorage(fresh(), { providers: [plugin], env: {} });
				await warm.reload();
				return { sqlite, fresh, warm, cold: [] as number[], again: [] as number[] };
			}),
		);
		const cpuMs = async (op: () => Promise<unknown>) => {
			const start = process.cpuUsage();
			await op();
			const used = process.cpuUsage(start);
			return (used.user + used.system) / 1000;
		};
		for (let round = 0; round < 6; round++) {
			for (const side of sides) {
				side.cold.push(
					await cpuMs(async () => {
						const storage = new AuthStorage(side.fresh(), { providers: [plugin], env: {} });
						await storage.reload();
						if (storage.listStoredCredentials("bench").length !== RELOAD_ROWS) throw new Error("rows missing");
						await storage.close();
					}),
				);
				side.again.push(await cpuMs(() => side.warm.reload()));
			}
		}
		const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
		const reload: BenchResult[] = [];
		for (const [index, side] of sides.entries()) {
			const label = index === 1 ? "encrypted" : "plain";
			const ops = side.cold.length;
			reload.push({ name: `cold reload, ${RELOAD_ROWS} rows, ${label} (CPU)`, nsPerOp: median(side.cold) * 1e6, ops });
			reload.push({ name: `warm reload, ${RELOAD_ROWS} rows, ${label} (CPU)`, nsPerOp: median(side.again) * 1e6, ops });
			await side.warm.close();
			await side.sqlite.close();
		}
		const reloadTable = table(
			"encryption: reload of 10,000 OAuth rows (sqlite), against plain cold",
			reload,
			reload[0]!,
		);
		const ratio = (a: number, b: number) => (reload[a]!.nsPerOp / reload[b]!.nsPerOp).toFixed(2);
		const hotRatio = (hot[2]!.nsPerOp / hot[0]!.nsPerOp).toFixed(2);
		return [
			hotTable,
			reloadTable,
			"",
			`encrypted/plain: warm getApiKey ${hotRatio}×, cold reload ${ratio(2, 0)}×, warm reload ${ratio(3, 1)}×`,
		].join("\n");
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});
