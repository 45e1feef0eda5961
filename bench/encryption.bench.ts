/**
 * Encryption at rest on the SQLite store: the warm `getApiKey` path with and without `withEncryption`
 * (decryption happens when rows are loaded or changed, never per call, so the ratio should be ~1×), and
 * a reload of 10,000 rows, sealed vs plain: cold (a fresh process: every row opened and verified) and
 * warm (a reload after a change elsewhere: unchanged rows come from the wrapper's opened-row cache).
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
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
		// The floor of any per-row seal: one bare AES-256-GCM open per row (node:crypto, buffers ready, same
		// message and associated-data sizes as a row's bundle), no store and no pool around it.
		const gcmKey = randomBytes(32);
		const gcmAad = Buffer.from(
			`authpool-enc-v1\u0000bench\u0000new\u0000hmac:bench:${"0".repeat(64)}\u0000v1\u0000*access,email,refresh`,
		);
		const messages = credentials.map(({ access, refresh, email }) => {
			const iv = randomBytes(12);
			const cipher = createCipheriv("aes-256-gcm", gcmKey, iv);
			cipher.setAAD(gcmAad);
			const body = Buffer.concat([cipher.update(JSON.stringify({ access, email, refresh }), "utf8"), cipher.final()]);
			return Buffer.concat([iv, body, cipher.getAuthTag()]);
		});
		const bareGcm: number[] = [];
		for (let round = 0; round < 6; round++) {
			bareGcm.push(
				await cpuMs(async () => {
					for (const message of messages) {
						const decipher = createDecipheriv("aes-256-gcm", gcmKey, message.subarray(0, 12));
						decipher.setAAD(gcmAad);
						decipher.setAuthTag(message.subarray(message.length - 16));
						JSON.parse(
							decipher.update(message.subarray(12, message.length - 16), undefined, "utf8") + decipher.final("utf8"),
						);
					}
				}),
			);
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
		reload.push({
			name: `bare AES-256-GCM open + JSON.parse ×${RELOAD_ROWS} (CPU, the floor of a per-row seal)`,
			nsPerOp: median(bareGcm) * 1e6,
			ops: bareGcm.length,
		});
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
			`encrypted/plain: warm getApiKey ${hotRatio}×, cold reload ${ratio(2, 0)}×, warm reload ${ratio(3, 1)}×; ` +
				`cold reload adds ${((reload[2]!.nsPerOp - reload[0]!.nsPerOp) / RELOAD_ROWS / 1000).toFixed(1)} µs/row, ` +
				`of which bare AES-GCM alone is ${(reload[4]!.nsPerOp / RELOAD_ROWS / 1000).toFixed(1)} µs/row`,
		].join("\n");
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});
