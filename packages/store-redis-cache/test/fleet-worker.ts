/**
 * A fleet instance as a real OS process (run with `node --conditions=@authpool/source --import tsx`):
 * an `AuthStorage` on Postgres + Redis. The parent passes a JSON config as argv[2] and drives it with
 * IPC commands; every answer echoes the command's `seq`.
 */
import { AuthpoolError, AuthStorage, type AuthStorageOptions, type Logger } from "@authpool/core";
import { createPostgresStore } from "@authpool/store-postgres";
import { withRedisCache } from "../src/index";
import { fleetPlugin, KEY_PROVIDER, OAUTH_PROVIDER } from "./fleet-plugin";

export interface FleetWorkerConfig {
	worker: string;
	postgresUrl: string;
	schema: string;
	redisUrl: string;
	prefix: string;
	tokenUrl: string;
	leaseTtlMs?: number;
	refreshTimeoutMs?: number;
	refreshSkewMs?: number;
}

export type FleetCommand =
	/** `n` concurrent `getApiKey` calls on the OAuth provider. */
	| { type: "burst"; n: number }
	/** Replace the key provider's credentials (one write). */
	| { type: "set-keys"; keys: string[] }
	/** Pin `session` to a key, then mark it usage-limited for a minute. */
	| { type: "block"; session: string }
	/** Soft-delete the key provider's row holding `key`. */
	| { type: "disable"; key: string }
	/** Poll `getApiKey(KEY_PROVIDER)` (warm path) until it returns `until` (`null`: no key). */
	| { type: "watch"; until: string | null; timeoutMs: number }
	/**
	 * Poll the change check until `key`'s row is blocked, then make `calls` plain `getApiKey` calls and
	 * report how many returned the blocked key.
	 */
	| { type: "watch-blocked"; key: string; calls: number; timeoutMs: number }
	/** Poll the change check until `count` active rows of `provider` are loaded. */
	| { type: "watch-rows"; provider: string; count: number; timeoutMs: number }
	/** `callers` loops over both providers for `durationMs`. */
	| { type: "traffic"; callers: number; durationMs: number }
	| { type: "exit" };

export interface TrafficReport {
	calls: number;
	served: number;
	noKey: number;
	/** Error codes (typed errors) or `untyped: message`. */
	errors: Record<string, number>;
	/** Longest single call (ms). */
	maxCallMs: number;
	/** Successful calls per 250 ms bucket, to see serving resume after an outage. */
	servedBuckets: number[];
}

const config = JSON.parse(process.argv[2] ?? "{}") as FleetWorkerConfig;

function send(message: Record<string, unknown>): Promise<void> {
	return new Promise((resolve) => {
		if (!process.send) return resolve();
		process.send(message, () => resolve());
	});
}

const warnings: string[] = [];
const logger: Logger = {
	debug() {},
	info() {},
	warn(message) {
		warnings.push(message);
	},
	error(message) {
		warnings.push(message);
	},
};

function codeOf(error: unknown): string {
	if (AuthpoolError.isInstance(error)) return error.code;
	return `untyped: ${error instanceof Error ? error.message : String(error)}`;
}

async function main(): Promise<void> {
	const durable = await createPostgresStore(
		{ connectionString: config.postgresUrl },
		{ schema: config.schema, logger },
	);
	const store = withRedisCache(durable, { url: config.redisUrl }, { prefix: config.prefix, logger });
	const options: AuthStorageOptions = {
		// The default owner id (`<host>:<pid>:<uuid>`): a peer on this host can tell a dead holder.
		providers: [fleetPlugin(config.tokenUrl)],
		logger,
		...(config.leaseTtlMs ? { refreshLeaseTtlMs: config.leaseTtlMs } : {}),
		...(config.refreshTimeoutMs ? { refreshTimeoutMs: config.refreshTimeoutMs } : {}),
		...(config.refreshSkewMs !== undefined ? { refreshSkewMs: config.refreshSkewMs } : {}),
	};
	const storage = new AuthStorage(store, options);
	await storage.reload();

	const handlers: { [K in FleetCommand["type"]]: (command: Extract<FleetCommand, { type: K }>) => Promise<unknown> } = {
		async burst({ n }) {
			const keys = new Set<string>();
			const errors: Record<string, number> = {};
			let noKey = 0;
			await Promise.all(
				Array.from({ length: n }, async () => {
					try {
						const key = await storage.getApiKey(OAUTH_PROVIDER);
						if (key === undefined) noKey++;
						else keys.add(key);
					} catch (error) {
						const code = codeOf(error);
						errors[code] = (errors[code] ?? 0) + 1;
					}
				}),
			);
			return { keys: [...keys], noKey, errors };
		},
		async "set-keys"({ keys }) {
			await storage.set(
				KEY_PROVIDER,
				keys.map((key) => ({ type: "api_key" as const, key })),
			);
			return { writtenAt: Date.now() };
		},
		async block({ session }) {
			const key = await storage.getApiKey(KEY_PROVIDER, session);
			await storage.markUsageLimitReached(KEY_PROVIDER, session, { retryAfterMs: 60_000 });
			return { key, writtenAt: Date.now() };
		},
		async disable({ key }) {
			const row = storage
				.listStoredCredentials(KEY_PROVIDER)
				.find((candidate) => candidate.credential.type === "api_key" && candidate.credential.key === key);
			if (!row) throw new Error("no such key loaded");
			const done = await storage.removeCredential(KEY_PROVIDER, row.id);
			return { done, writtenAt: Date.now() };
		},
		async watch({ until, timeoutMs }) {
			const deadline = performance.now() + timeoutMs;
			let polls = 0;
			for (;;) {
				polls++;
				const key = (await storage.getApiKey(KEY_PROVIDER)) ?? null;
				if (key === until) return { seenAt: Date.now(), polls };
				if (performance.now() > deadline)
					throw new Error(`watch for ${until ?? "no key"} timed out (last: ${key ?? "none"})`);
				await new Promise((resolve) => setTimeout(resolve, 1));
			}
		},
		async "watch-blocked"({ key, calls, timeoutMs }) {
			const deadline = performance.now() + timeoutMs;
			for (;;) {
				await storage.pollChanges();
				const entry = storage
					.exportSnapshot()
					.credentials.find((row) => row.credential.type === "api_key" && row.credential.key === key);
				if (entry && entry.blocks.length > 0) break;
				if (performance.now() > deadline) throw new Error(`watch for the block of ${key} timed out`);
				await new Promise((resolve) => setTimeout(resolve, 1));
			}
			const seenAt = Date.now();
			let servedBlocked = 0;
			for (let i = 0; i < calls; i++) if ((await storage.getApiKey(KEY_PROVIDER)) === key) servedBlocked++;
			return { seenAt, servedBlocked };
		},
		async "watch-rows"({ provider, count, timeoutMs }) {
			const deadline = performance.now() + timeoutMs;
			for (;;) {
				await storage.pollChanges();
				if (storage.listStoredCredentials(provider).length === count) return { seenAt: Date.now() };
				if (performance.now() > deadline) throw new Error(`watch for ${count} rows of ${provider} timed out`);
				await new Promise((resolve) => setTimeout(resolve, 1));
			}
		},
		async traffic({ callers, durationMs }) {
			const report: TrafficReport = { calls: 0, served: 0, noKey: 0, errors: {}, maxCallMs: 0, servedBuckets: [] };
			const started = performance.now();
			const deadline = started + durationMs;
			const caller = async (index: number) => {
				while (performance.now() < deadline) {
					const provider = index % 2 === 0 ? OAUTH_PROVIDER : KEY_PROVIDER;
					const before = performance.now();
					report.calls++;
					try {
						const key = await storage.getApiKey(provider, `${config.worker}-s${index}`);
						if (key === undefined) report.noKey++;
						else {
							report.served++;
							const bucket = Math.floor((performance.now() - started) / 250);
							report.servedBuckets[bucket] = (report.servedBuckets[bucket] ?? 0) + 1;
						}
					} catch (error) {
						const code = codeOf(error);
						report.errors[code] = (report.errors[code] ?? 0) + 1;
					}
					report.maxCallMs = Math.max(report.maxCallMs, performance.now() - before);
					await new Promise((resolve) => setTimeout(resolve, 2));
				}
			};
			await Promise.all(Array.from({ length: callers }, (_, index) => caller(index)));
			for (let i = 0; i < report.servedBuckets.length; i++) report.servedBuckets[i] ??= 0;
			return { ...report, warnings: warnings.length };
		},
		async exit() {
			await storage.close();
			setImmediate(() => process.exit(0));
			return {};
		},
	};

	process.on("message", (message: FleetCommand & { seq: number }) => {
		const handler = handlers[message.type] as (command: FleetCommand) => Promise<unknown>;
		handler(message).then(
			(result) => send({ seq: message.seq, ok: true, result }),
			(error: unknown) => send({ seq: message.seq, ok: false, error: codeOf(error) }),
		);
	});
	await send({ seq: 0, ok: true, result: { ready: config.worker } });
}

main().catch(async (error: unknown) => {
	await send({ seq: 0, ok: false, error: codeOf(error) });
	process.exit(1);
});
