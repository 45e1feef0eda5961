/**
 * A worker OS process for the multi-process tests (run with
 * `node --conditions=@authpool/source --import tsx`). The parent passes a JSON config as argv[2]
 * and receives results over the IPC channel.
 *
 * - `traffic`: `callers` concurrent loops of `getApiKey` + server-side verification until the deadline.
 * - `writes`:  a burst of row/block/cache writes, reporting each committed row id as it lands.
 * - `block`:   resolve a session's row, mark its usage limit, report the row's key, exit.
 * - `resolve`: resolve one session and report the key.
 */
import { AuthStorage } from "@authpool/core";
import { createSqliteStore } from "../src/index";
import { PROVIDER, REFRESH_SKEW_MS, rotatingPlugin } from "./rotating-plugin";

export type WorkerConfig =
	| {
			mode: "traffic";
			dbPath: string;
			serverUrl: string;
			worker: string;
			durationMs: number;
			callers: number;
			/** Refresh lease lifetime (a killed holder's lease is taken over after it). @default 15_000 */
			leaseTtlMs?: number;
			/** Bound of one upstream refresh; must stay below `leaseTtlMs`. @default 10_000 */
			refreshTimeoutMs?: number;
			/**
			 * Callers use sticky sessions (default) or none. Without sessions every caller rotates over all
			 * accounts, so an account whose lease is orphaned is retried (and taken over) once it expires,
			 * instead of its sessions moving to a sibling for good.
			 */
			sessions?: boolean;
	  }
	| { mode: "writes"; dbPath: string; worker: string }
	| { mode: "block"; dbPath: string; serverUrl: string; worker: string; session: string }
	| { mode: "resolve"; dbPath: string; serverUrl: string; worker: string; session: string };

export interface TrafficResult {
	type: "traffic";
	worker: string;
	calls: number;
	verified: number;
	rejected: number;
	noKey: number;
	errors: string[];
	busyErrors: number;
	/**
	 * Per rotation this worker received: ms from reading the provider's answer to the rotated token being
	 * committed (the window in which a SIGKILL loses the account — no client can close it, only shrink it).
	 */
	unpersistedWindowsMs: number[];
}

const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig;

function send(message: unknown): Promise<void> {
	return new Promise((resolve) => {
		if (!process.send) return resolve();
		process.send(message, (error: Error | null) => {
			if (error) process.stderr.write(`worker send failed: ${error.message}\n`);
			resolve();
		});
	});
}

function describeError(error: unknown): string {
	if (error instanceof Error) return `${(error as { code?: string }).code ?? error.name}: ${error.message}`;
	return String(error);
}

async function traffic(cfg: Extract<WorkerConfig, { mode: "traffic" }>): Promise<void> {
	const store = await createSqliteStore({ path: cfg.dbPath });
	const idOfAccount = new Map<string, number>();
	for (const row of await store.rows.listActive(PROVIDER)) {
		const account = row.credential.type === "oauth" ? row.credential.accountId : undefined;
		if (typeof account === "string") idOfAccount.set(account, row.id);
	}
	const answeredAt = new Map<number, number>();
	const windows: number[] = [];
	const storage = new AuthStorage(store, {
		providers: [
			rotatingPlugin(cfg.serverUrl, cfg.worker, (account) => {
				const id = account === undefined ? undefined : idOfAccount.get(account);
				if (id !== undefined) answeredAt.set(id, performance.now());
			}),
		],
		logger: {
			debug() {},
			info(message, fields) {
				const id = typeof fields?.credentialId === "number" ? fields.credentialId : undefined;
				if (id === undefined || !/refreshed|stored after a retry/.test(message)) return;
				const started = answeredAt.get(id);
				if (started === undefined) return;
				answeredAt.delete(id);
				windows.push(performance.now() - started);
			},
			warn() {},
			error() {},
		},
		owner: cfg.worker,
		refreshSkewMs: REFRESH_SKEW_MS,
		...(cfg.leaseTtlMs ? { refreshLeaseTtlMs: cfg.leaseTtlMs } : {}),
		...(cfg.refreshTimeoutMs ? { refreshTimeoutMs: cfg.refreshTimeoutMs } : {}),
	});
	await storage.reload();
	await send({ type: "ready", worker: cfg.worker });
	const result: TrafficResult = {
		type: "traffic",
		worker: cfg.worker,
		calls: 0,
		verified: 0,
		rejected: 0,
		noKey: 0,
		errors: [],
		busyErrors: 0,
		unpersistedWindowsMs: windows,
	};
	const deadline = Date.now() + cfg.durationMs;
	const caller = async (index: number) => {
		const session = cfg.sessions === false ? undefined : `${cfg.worker}-session-${index}`;
		while (Date.now() < deadline) {
			result.calls++;
			try {
				const key = await storage.getApiKey(PROVIDER, session);
				const handedAt = Date.now();
				if (key === undefined) {
					result.noKey++;
					continue;
				}
				const response = await fetch(`${cfg.serverUrl}/verify`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({ access: key, worker: cfg.worker, handedAt }),
				});
				if (response.ok) result.verified++;
				else result.rejected++;
				await response.arrayBuffer();
			} catch (error) {
				const text = describeError(error);
				if (/SQLITE_BUSY|database is locked/i.test(text)) result.busyErrors++;
				if (result.errors.length < 20) result.errors.push(text);
			}
		}
	};
	await Promise.all(Array.from({ length: cfg.callers }, (_, index) => caller(index)));
	await send(result);
	await storage.close();
	await store.close();
}

async function writes(cfg: Extract<WorkerConfig, { mode: "writes" }>): Promise<void> {
	const store = await createSqliteStore({ path: cfg.dbPath });
	await send({ type: "ready", worker: cfg.worker });
	for (let index = 0; ; index++) {
		const row = await store.rows.insert("burst", { type: "api_key", key: `${cfg.worker}-key-${index}` });
		await store.rows.update(row.id, { type: "api_key", key: `${cfg.worker}-key-${index}-v2` });
		await store.blocks.upsert({
			credentialId: row.id,
			providerKey: "burst:api_key",
			scope: "",
			blockedUntil: Date.now() + 60_000,
		});
		await store.cache.set(`${cfg.worker}-${index}`, "x".repeat(2048), Date.now() + 60_000);
		// Reported only after the commits above returned: the parent may count on this row existing.
		process.send?.({ type: "committed", id: row.id });
	}
}

async function single(cfg: Extract<WorkerConfig, { mode: "block" | "resolve" }>): Promise<void> {
	const store = await createSqliteStore({ path: cfg.dbPath });
	const storage = new AuthStorage(store, {
		providers: [rotatingPlugin(cfg.serverUrl, cfg.worker)],
		owner: cfg.worker,
		refreshSkewMs: REFRESH_SKEW_MS,
	});
	await storage.reload();
	const key = await storage.getApiKey(PROVIDER, cfg.session);
	if (cfg.mode === "block") await storage.markUsageLimitReached(PROVIDER, cfg.session, { retryAfterMs: 60_000 });
	await send({ type: cfg.mode, key });
	await storage.close();
	await store.close();
}

async function main(): Promise<void> {
	if (config.mode === "traffic") await traffic(config);
	else if (config.mode === "writes") await writes(config);
	else await single(config);
}

main().then(
	() => process.exit(0),
	async (error: unknown) => {
		await send({ type: "error", error: describeError(error) });
		process.exit(1);
	},
);
