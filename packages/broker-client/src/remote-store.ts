/**
 * `createRemoteStore`: an `AuthCredentialStore` backed by a broker (docs/broker-protocol.md). Reads come
 * from a local snapshot kept current by the broker's SSE stream (long-poll fallback, jittered backoff);
 * refresh, usage, suspect and prepare-for-request go to the broker through the `upstream` hooks; writes
 * are awaited broker calls. Refresh tokens never reach this process: OAuth rows carry `"__remote__"`.
 */
import { createHash } from "node:crypto";
import {
	blockResponseSchema,
	disabledResponseSchema,
	parseStreamFrame,
	refreshResponseSchema,
	type SnapshotResponse,
	SseParser,
	snapshotResponseSchema,
	upsertResponseSchema,
	usageResponseSchema,
	type WireSnapshotEntry,
} from "@authpool/broker-protocol";
import {
	type AuthCredential,
	type AuthCredentialStore,
	AuthpoolError,
	type BlockStore,
	type CacheStore,
	type CasResult,
	type Clock,
	type CredentialBlock,
	type CredentialRowStore,
	type Logger,
	type OAuthCredential,
	REPLACED_BY_NEWER,
	redactString,
	type SealedFileKeys,
	type StoredAuthCredential,
	type StoreUpstream,
	type UsageReport,
} from "@authpool/core";
import { z } from "zod";
import { BrokerHttp, type FetchLike } from "./broker-http";
import { ObservedUsageBatcher } from "./observed-usage";
import { readSnapshotCache, type SnapshotCacheTarget, writeSnapshotCache } from "./snapshot-cache";

/** Options of `createRemoteStore`. Validated at construction. */
export interface RemoteStoreOptions {
	/** Broker base URL (`https://broker.example:8765`). */
	url: string;
	/** Bearer token (client scope reads and refreshes; admin scope also writes). */
	token: string;
	/** Encrypted snapshot cache file (0600): lets the store start while the broker is unreachable. */
	cacheFile?: string;
	/**
	 * Seal the cache file under these keys (the operator's `AUTHPOOL_ENCRYPTION_KEYS`, see
	 * `parseEncryptionKeys`): reads accept any of them, writes use the active one. Without them the key
	 * is derived from the token and URL (a new token starts a new cache).
	 */
	cacheKeys?: SealedFileKeys;
	/** A cache file older than this is ignored. @default 3_600_000 */
	cacheTtlMs?: number;
	/** Aborting it closes the store's background loop. */
	signal?: AbortSignal;
	/** @default globalThis.fetch */
	fetch?: FetchLike;
	/** @default silent */
	logger?: Logger;
	/** @default Date.now */
	clock?: Clock;
	/** [0,1) source for backoff jitter. @default Math.random */
	random?: () => number;
	/** Bound of one broker call. @default 10_000 */
	requestTimeoutMs?: number;
	/** Aggregate usage is cached (and shared by concurrent callers) this long. @default 15_000 */
	usageCacheMs?: number;
	/** First reconnect delay; doubles up to `maxBackoffMs`, each with jitter. @default 500 */
	minBackoffMs?: number;
	/** @default 30_000 */
	maxBackoffMs?: number;
	/** `false`: long-poll only (no SSE). @default true */
	stream?: boolean;
	/** Client-observed usage (`AuthStorage.recordObservedUsage`) is sent to the broker this often. @default 10_000 */
	observedUsageFlushMs?: number;
}

/** The store, plus what a client may want to watch. */
export interface RemoteCredentialStore extends AuthCredentialStore {
	readonly upstream: Required<StoreUpstream>;
	/** Generation of the applied snapshot (per broker instance). */
	readonly generation: number;
	/** `true` while an SSE stream is connected. */
	readonly streaming: boolean;
	/** Where the current view came from: the broker, or the cache file at startup. */
	readonly source: "broker" | "cache";
	/** Fetch a snapshot now (plain GET) and apply it. */
	refreshSnapshot(): Promise<void>;
}

const optionsSchema = z.looseObject({
	url: z.string().regex(/^https?:\/\/[^\s]+$/, "must be an http(s) URL"),
	token: z.string().refine((v) => v.trim().length > 0, "must not be empty"),
	cacheFile: z.string().min(1).optional(),
	cacheKeys: z
		.object({
			keys: z.union([z.instanceof(Map), z.record(z.string(), z.instanceof(Buffer))]),
			activeKeyId: z.string().min(1),
		})
		.optional(),
	cacheTtlMs: z.number().int().nonnegative().optional(),
	requestTimeoutMs: z.number().int().positive().optional(),
	usageCacheMs: z.number().int().nonnegative().optional(),
	minBackoffMs: z.number().int().positive().optional(),
	maxBackoffMs: z.number().int().positive().optional(),
	stream: z.boolean().optional(),
	observedUsageFlushMs: z.number().int().positive().max(3_600_000).optional(),
});

const WAIT_THRESHOLD_MS = 1_000;
const PREPARE_MAX_WAIT_MS = 5_000;
const LONG_POLL_WAIT_MS = 25_000;
const CLOSE_FLUSH_MS = 2_000;

interface LocalRow {
	entry: WireSnapshotEntry;
	version: number;
	/** Local clock when the entry arrived (for `rotatesInMs`). */
	receivedAt: number;
	json: string;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function fingerprint(access: string): string {
	return createHash("sha256").update(access, "utf8").digest("hex");
}

/**
 * Connect to a broker and return its store. Starts from the cache file when it is fresh (then
 * revalidates in the background), else waits for one snapshot.
 * @throws AuthpoolError `INVALID_OPTIONS`; `UPSTREAM_ERROR` when the broker is unreachable and no fresh cache exists.
 * @example
 * const store = await createRemoteStore({ url: "https://broker:8765", token, cacheFile: "~/.authpool/broker.cache" });
 * const storage = new AuthStorage(store, { providers: [anthropic] });
 */
export async function createRemoteStore(options: RemoteStoreOptions): Promise<RemoteCredentialStore> {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) {
		const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
		throw new AuthpoolError("INVALID_OPTIONS", `createRemoteStore: ${issues}`);
	}
	const token = options.token.trim();
	const clock = options.clock ?? { now: () => Date.now() };
	const logger = options.logger ?? silent;
	const random = options.random ?? Math.random;
	const http = new BrokerHttp({
		url: options.url,
		token,
		fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
		timeoutMs: options.requestTimeoutMs ?? 10_000,
	});
	const usageCacheMs = options.usageCacheMs ?? 15_000;
	const minBackoff = options.minBackoffMs ?? 500;
	const maxBackoff = options.maxBackoffMs ?? 30_000;
	const log = (level: keyof Logger, message: string, fields?: Record<string, unknown>) => {
		try {
			logger[level](message, fields);
		} catch {
			// never let a logger fail a call
		}
	};
	const errorText = (error: unknown) => redactString(error instanceof Error ? error.message : String(error));

	// ── local snapshot ──────────────────────────────────────────────────────
	const rows = new Map<number, LocalRow>();
	let instanceId = "";
	let generation = -1;
	let revision = 0;
	let streaming = false;
	let source: "broker" | "cache" = "broker";
	let closed = false;
	const listeners = new Set<() => void>();
	const changed = () => {
		revision += 1;
		for (const listener of [...listeners]) {
			try {
				listener();
			} catch {
				// a listener failure must not stop the stream
			}
		}
	};

	const putEntry = (entry: WireSnapshotEntry, now: number): boolean => {
		const json = JSON.stringify([entry.credential, entry.identityKey, entry.blocks, entry.provider]);
		const current = rows.get(entry.id);
		if (current && current.json === json) {
			current.entry = entry;
			current.receivedAt = now;
			return false;
		}
		rows.set(entry.id, { entry, json, receivedAt: now, version: (current?.version ?? 0) + 1 });
		return true;
	};

	const cacheTarget: SnapshotCacheTarget | undefined = options.cacheFile
		? { path: options.cacheFile, url: http.url, token, ...(options.cacheKeys ? { keys: options.cacheKeys } : {}) }
		: undefined;
	let persistTimer: ReturnType<typeof setTimeout> | undefined;
	let lastSnapshot: SnapshotResponse | undefined;
	const persist = () => {
		if (!cacheTarget || persistTimer) return;
		persistTimer = setTimeout(() => {
			persistTimer = undefined;
			const snapshot = currentSnapshot();
			if (!snapshot) return;
			void writeSnapshotCache(cacheTarget, {
				savedAt: clock.now(),
				receivedAt: clock.now(),
				snapshot,
			}).catch((error: unknown) => log("warn", "broker snapshot cache write failed", { error: errorText(error) }));
		}, 50);
		persistTimer.unref?.();
	};
	/** The local view as a snapshot (what the cache file keeps). */
	const currentSnapshot = (): SnapshotResponse | undefined => {
		if (!lastSnapshot) return undefined;
		return {
			...lastSnapshot,
			generation: Math.max(0, generation),
			credentials: [...rows.values()].map((row) => row.entry).sort((a, b) => a.id - b.id),
		};
	};

	const applySnapshot = (snapshot: SnapshotResponse, now: number, from: "broker" | "cache" = "broker") => {
		if (snapshot.instanceId === instanceId && snapshot.generation < generation) return;
		let moved = snapshot.instanceId !== instanceId || snapshot.generation !== generation;
		const seen = new Set<number>();
		for (const entry of snapshot.credentials) {
			seen.add(entry.id);
			if (putEntry(entry, now)) moved = true;
		}
		for (const id of [...rows.keys()]) {
			if (!seen.has(id)) {
				rows.delete(id);
				moved = true;
			}
		}
		instanceId = snapshot.instanceId;
		generation = snapshot.generation;
		lastSnapshot = snapshot;
		source = from;
		if (moved) changed();
		if (from === "broker") persist();
	};

	const applyEntry = (entry: WireSnapshotEntry) => {
		if (putEntry(entry, clock.now())) {
			changed();
			persist();
		}
	};
	const dropRow = (id: number) => {
		if (rows.delete(id)) {
			changed();
			persist();
		}
	};

	const fetchSnapshot = async (
		wait?: { generation: number; ms: number },
		signal?: AbortSignal,
	): Promise<"applied" | "unchanged"> => {
		const reply = await http.call(
			"snapshot",
			wait ? `/v1/snapshot?wait=${wait.ms}` : "/v1/snapshot",
			snapshotResponseSchema,
			{
				...(wait ? { headers: { "if-none-match": `"${wait.generation}"` }, timeoutMs: wait.ms + 10_000 } : {}),
				...(signal ? { signal } : {}),
			},
		);
		if (reply.status === 304 || !reply.body) return "unchanged";
		applySnapshot(reply.body, clock.now());
		return "applied";
	};

	// ── startup: cache first, else one blocking snapshot ───────────────────
	const cacheTtlMs = options.cacheTtlMs ?? 3_600_000;
	const read = cacheTarget && cacheTtlMs > 0 ? await readSnapshotCache(cacheTarget, cacheTtlMs, clock.now()) : null;
	if (read && !read.ok && read.reason !== "missing") {
		log("info", "broker snapshot cache not used", { reason: read.reason });
	}
	const cached = read?.ok ? read.cached : null;
	if (cached) {
		// Rotation ETAs in a cached file are stale: never wait on them.
		applySnapshot(
			{ ...cached.snapshot, credentials: cached.snapshot.credentials.map((e) => ({ ...e, rotatesInMs: null })) },
			clock.now(),
			"cache",
		);
	} else {
		await fetchSnapshot();
	}

	// ── background: SSE, long-poll fallback, jittered backoff ───────────────
	const loop = new AbortController();
	const onOuterAbort = () => void store.close();
	options.signal?.addEventListener("abort", onOuterAbort, { once: true });
	let streamUnsupported = options.stream === false;

	const sleep = (ms: number) =>
		new Promise<void>((resolve) => {
			const timer = setTimeout(resolve, ms);
			loop.signal.addEventListener(
				"abort",
				() => {
					clearTimeout(timer);
					resolve();
				},
				{ once: true },
			);
		});

	const runStream = async (): Promise<boolean> => {
		const res = await http.open("/v1/snapshot/stream", {
			headers: http.headers({ accept: "text/event-stream" }),
			signal: loop.signal,
		});
		if (res.status === 404 || res.status === 405) {
			streamUnsupported = true;
			await res.body?.cancel();
			return false;
		}
		if (res.status !== 200 || !res.body) {
			await res.body?.cancel();
			throw new AuthpoolError("UPSTREAM_ERROR", `broker stream answered ${res.status}`, {
				details: { status: res.status },
			});
		}
		const parser = new SseParser();
		const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
		let connected = false;
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done) break;
				for (const raw of parser.push(value)) {
					const frame = parseStreamFrame(raw);
					if (!frame) continue;
					if (frame.event === "snapshot") {
						applySnapshot(frame.data, clock.now());
						if (!connected) {
							connected = true;
							streaming = true;
							backoff = minBackoff;
						}
					} else if (frame.event === "entry") {
						if (frame.data.generation >= generation) {
							generation = frame.data.generation;
							applyEntry(frame.data.entry);
						}
					} else if (frame.event === "removed") {
						if (frame.data.generation >= generation) {
							generation = frame.data.generation;
							dropRow(frame.data.id);
						}
					}
				}
				if (parser.pending > 8 * 1024 * 1024)
					throw new AuthpoolError("UPSTREAM_ERROR", "broker stream frame too large");
			}
		} finally {
			streaming = false;
			reader.releaseLock();
		}
		return connected;
	};

	let backoff = minBackoff;
	const jittered = (ms: number) => Math.round(ms / 2 + random() * (ms / 2));
	const background = (async () => {
		while (!closed) {
			try {
				if (!streamUnsupported) {
					await runStream();
					if (closed) return;
					if (streamUnsupported) continue;
				} else {
					await fetchSnapshot({ generation: Math.max(0, generation), ms: LONG_POLL_WAIT_MS }, loop.signal);
					backoff = minBackoff;
					continue;
				}
			} catch (error) {
				if (closed) return;
				log("debug", "broker connection lost", { error: errorText(error) });
			}
			await sleep(jittered(backoff));
			backoff = Math.min(maxBackoff, backoff * 2);
			if (!closed && !streamUnsupported) {
				// Between stream attempts, one plain GET: converge even when only plain requests get through.
				await fetchSnapshot(undefined, loop.signal).catch(() => {});
			}
		}
	})();

	// ── rows ────────────────────────────────────────────────────────────────
	const toStored = (row: LocalRow): StoredAuthCredential => ({
		id: row.entry.id,
		provider: row.entry.provider,
		credential: row.entry.credential as AuthCredential,
		disabledCause: null,
		version: row.version,
		identityKey: row.entry.identityKey,
		createdAt: 0,
		updatedAt: row.receivedAt,
		disabledAt: null,
	});
	const active = (provider?: string) =>
		[...rows.values()]
			.filter((row) => provider === undefined || row.entry.provider === provider)
			.sort((a, b) => a.entry.id - b.entry.id)
			.map(toStored);
	const getRow = (id: number) => {
		const row = rows.get(id);
		return row ? toStored(row) : null;
	};

	/** POST /v1/credential; the provider's rows in the answer replace ours. `id` of the written row, if any. */
	const postCredential = async (provider: string, credential: AuthCredential, ifProviderAbsent: boolean) => {
		if (credential.type === "oauth" && credential.refresh === "__remote__") {
			throw new AuthpoolError(
				"INVALID_INPUT",
				`a credential of ${provider} with a remote refresh token can only be written by the broker`,
			);
		}
		const reply = await http.call("upsert", "/v1/credential", upsertResponseSchema, {
			method: "POST",
			body: { provider, credential, ...(ifProviderAbsent ? { ifProviderAbsent } : {}) },
		});
		const body = reply.body!;
		const now = clock.now();
		const ids = new Set(body.entries.map((entry) => entry.id));
		for (const entry of body.entries) putEntry(entry, now);
		for (const row of [...rows.values()]) {
			if (row.entry.provider === provider && !ids.has(row.entry.id)) rows.delete(row.entry.id);
		}
		changed();
		return body;
	};
	const upsert = async (provider: string, credential: AuthCredential) => {
		const known = new Set(rows.keys());
		const body = await postCredential(provider, credential, false);
		if (body.id === undefined) throw new AuthpoolError("UPSTREAM_ERROR", "broker upsert answered without the row id");
		return { row: getRow(body.id)!, inserted: !known.has(body.id) };
	};

	const disableRemote = async (id: number, cause: string, expectedAccessFingerprint?: string) => {
		try {
			await http.call("disable", `/v1/credential/${id}/disable`, null, {
				method: "POST",
				body: {
					cause: cause.trim() ? cause.slice(0, 1024) : "disabled",
					...(expectedAccessFingerprint ? { expectedAccessFingerprint } : {}),
				},
			});
		} catch (error) {
			if (AuthpoolError.isInstance(error) && (error.code === "NOT_FOUND" || error.code === "CONFLICT")) {
				await fetchSnapshot().catch(() => {});
				return false;
			}
			throw error;
		}
		dropRow(id);
		return true;
	};

	/** A write of a sentinel credential only mirrors what the broker already holds. */
	const mirror = (id: number, credential: AuthCredential): StoredAuthCredential | null => {
		const row = rows.get(id);
		if (!row) return null;
		applyEntry({ ...row.entry, credential: credential as WireSnapshotEntry["credential"] });
		return getRow(id);
	};

	const rowStore: CredentialRowStore = {
		async listActive(provider) {
			return active(provider);
		},
		async listDisabled(provider) {
			const reply = await http.call(
				"disabled list",
				`/v1/credentials/disabled${provider ? `?provider=${encodeURIComponent(provider)}` : ""}`,
				disabledResponseSchema,
				{},
				[403, 404],
			);
			return (reply.body?.disabled ?? []).map((row) => ({
				id: row.id,
				provider: row.provider,
				// Tombstones carry identity and cause only: no token bytes leave the broker.
				credential:
					row.type === "oauth"
						? ({
								type: "oauth",
								access: "",
								refresh: "__remote__",
								expires: 0,
								...(row.email ? { email: row.email } : {}),
								...(row.accountId ? { accountId: row.accountId } : {}),
							} as OAuthCredential)
						: { type: "api_key", key: "" },
				disabledCause: row.disabledCause,
				version: 0,
				identityKey: null,
				createdAt: 0,
				updatedAt: row.disabledAtMs ?? 0,
				disabledAt: row.disabledAtMs,
			}));
		},
		async get(id) {
			return getRow(id);
		},
		async insert(provider, credential) {
			return (await upsert(provider, credential)).row;
		},
		async insertIfProviderAbsent(provider, credential) {
			if (credential.type !== "api_key") {
				// The broker merges OAuth logins by identity; only an API key is seeded conditionally.
				throw new AuthpoolError(
					"INVALID_INPUT",
					"a broker store inserts only API keys conditionally (ifProviderAbsent)",
				);
			}
			const body = await postCredential(provider, credential, true);
			if (body.inserted === undefined) {
				throw new AuthpoolError("UPSTREAM_ERROR", "the broker does not support conditional inserts: upgrade it");
			}
			return body.inserted && body.id !== undefined ? getRow(body.id) : null;
		},
		async update(id, credential) {
			if (credential.type === "oauth" && credential.refresh === "__remote__") return mirror(id, credential);
			const row = rows.get(id);
			if (!row) return null;
			return (await upsert(row.entry.provider, credential)).row;
		},
		async compareAndSet(id, expectedVersion, credential): Promise<CasResult> {
			const row = rows.get(id);
			if (!row || row.version !== expectedVersion) return { ok: false, current: getRow(id) };
			const written = await rowStore.update(id, credential);
			return written ? { ok: true, row: written } : { ok: false, current: getRow(id) };
		},
		async compareAndDisable(id, expectedVersion, cause): Promise<CasResult> {
			const row = rows.get(id);
			if (!row || row.version !== expectedVersion) return { ok: false, current: getRow(id) };
			const credential = row.entry.credential;
			const ok = await disableRemote(
				id,
				cause,
				credential.type === "oauth" ? fingerprint(credential.access) : undefined,
			);
			if (!ok) return { ok: false, current: getRow(id) };
			return { ok: true, row: { ...toStored(row), disabledCause: cause, disabledAt: clock.now() } };
		},
		async disable(id, cause) {
			if (!rows.has(id)) return false;
			return disableRemote(id, cause);
		},
		async disableProvider(provider, cause) {
			let count = 0;
			for (const row of active(provider)) if (await disableRemote(row.id, cause)) count += 1;
			return count;
		},
		async upsertByIdentity(provider, credential) {
			return upsert(provider, credential);
		},
		async replaceProvider(provider, credentials) {
			const kept = new Set<number>();
			for (const credential of credentials) kept.add((await upsert(provider, credential)).row.id);
			for (const row of active(provider)) {
				if (!kept.has(row.id)) await disableRemote(row.id, REPLACED_BY_NEWER);
			}
			return active(provider);
		},
	};

	// ── cache (in memory, ephemeral) ────────────────────────────────────────
	const cacheEntries = new Map<string, { value: string; expiresAt: number }>();
	const cache: CacheStore = {
		async get(key, opts) {
			const entry = cacheEntries.get(key);
			if (!entry) return null;
			if (!opts?.includeExpired && entry.expiresAt <= clock.now()) return null;
			return entry.value;
		},
		async set(key, value, expiresAt) {
			cacheEntries.set(key, { value, expiresAt });
		},
		async delete(key) {
			cacheEntries.delete(key);
		},
		async cleanExpired() {
			let n = 0;
			const now = clock.now();
			for (const [key, entry] of cacheEntries) {
				if (entry.expiresAt <= now) {
					cacheEntries.delete(key);
					n += 1;
				}
			}
			return n;
		},
	};

	// ── blocks: mirrored from the snapshot, written through the broker ──────
	const blocks: BlockStore = {
		async upsert(block) {
			const reply = await http.call("block", `/v1/credential/${block.credentialId}/block`, blockResponseSchema, {
				method: "POST",
				body: {
					providerKey: block.providerKey,
					blockScope: block.scope,
					blockedUntilMs: Math.max(0, Math.round(block.blockedUntil)),
				},
			});
			const effective = Math.max(reply.body?.blockedUntilMs ?? 0, block.blockedUntil);
			const row = rows.get(block.credentialId);
			if (row) {
				const others = row.entry.blocks.filter(
					(b) => !(b.providerKey === block.providerKey && b.blockScope === block.scope),
				);
				applyEntry({
					...row.entry,
					blocks: [
						...others,
						{
							providerKey: block.providerKey,
							blockScope: block.scope,
							blockedUntilMs: effective,
							updatedAtMs: clock.now(),
						},
					],
				});
			}
			return { ...block, blockedUntil: effective, updatedAt: clock.now() };
		},
		async list(filter) {
			const now = clock.now();
			const out: CredentialBlock[] = [];
			for (const row of rows.values()) {
				if (filter?.credentialId !== undefined && row.entry.id !== filter.credentialId) continue;
				for (const b of row.entry.blocks) {
					if (b.blockedUntilMs <= now) continue;
					if (filter?.providerKey !== undefined && b.providerKey !== filter.providerKey) continue;
					out.push({
						credentialId: row.entry.id,
						providerKey: b.providerKey,
						scope: b.blockScope,
						blockedUntil: b.blockedUntilMs,
						updatedAt: b.updatedAtMs,
					});
				}
			}
			return out;
		},
		async delete(credentialId, scope) {
			const row = rows.get(credentialId);
			const count = row ? row.entry.blocks.filter((b) => scope === undefined || b.blockScope === scope).length : 0;
			try {
				await http.call("unblock", `/v1/credential/${credentialId}/blocks`, null, { method: "DELETE" });
			} catch (error) {
				// A client token may not lift blocks on the broker: the local lift stands until the next snapshot.
				log("debug", "broker unblock refused", { credentialId, error: errorText(error) });
			}
			if (row) {
				applyEntry({
					...row.entry,
					blocks: row.entry.blocks.filter((b) => scope !== undefined && b.blockScope !== scope),
				});
			}
			return count;
		},
	};

	// ── upstream hooks ──────────────────────────────────────────────────────
	let usageCache: { at: number; reports: UsageReport[] } | undefined;
	let usageFlight: Promise<UsageReport[] | null> | undefined;
	const fetchUsage = (): Promise<UsageReport[] | null> => {
		if (usageCache && clock.now() - usageCache.at < usageCacheMs) return Promise.resolve(usageCache.reports);
		usageFlight ??= http
			.call("usage", "/v1/usage", usageResponseSchema, { timeoutMs: 60_000 })
			.then((reply) => {
				const reports = (reply.body?.reports ?? []) as unknown as UsageReport[];
				usageCache = { at: clock.now(), reports };
				return reports;
			})
			.catch((error: unknown) => {
				log("warn", "broker usage fetch failed", { error: errorText(error) });
				return null;
			})
			.finally(() => {
				usageFlight = undefined;
			});
		return usageFlight;
	};
	const withCaller = <T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> => {
		if (!signal) return promise;
		if (signal.aborted) return Promise.reject(new AuthpoolError("ABORTED", "usage lookup aborted by caller"));
		return new Promise<T>((resolve, reject) => {
			const onAbort = () => reject(new AuthpoolError("ABORTED", "usage lookup aborted by caller"));
			signal.addEventListener("abort", onAbort, { once: true });
			promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
		});
	};

	const refreshRemote = async (id: number, signal?: AbortSignal): Promise<WireSnapshotEntry> => {
		const reply = await http.call("refresh", `/v1/credential/${id}/refresh`, refreshResponseSchema, {
			method: "POST",
			...(signal ? { signal } : {}),
			timeoutMs: 60_000,
		});
		const entry = { ...reply.body!.entry, rotatesInMs: null };
		applyEntry(entry);
		return entry;
	};

	const observed = new ObservedUsageBatcher({
		flushMs: options.observedUsageFlushMs ?? 10_000,
		maxEntries: 10_000,
		log,
		send: async (report) => {
			await http.call("observed usage", "/v1/usage/observed", null, { method: "POST", body: report });
		},
		classify: (error) => {
			const status = AuthpoolError.isInstance(error) ? error.details?.status : undefined;
			if (status === 404 || status === 501) return "stop";
			if (typeof status === "number" && status >= 400 && status < 500 && status !== 429) return "drop";
			return "retry";
		},
	});

	const lower = (value: unknown) => (typeof value === "string" ? value.trim().toLowerCase() : undefined);
	const upstream: Required<StoreUpstream> = {
		async refreshOAuthCredential(_provider, credentialId, _credential, signal) {
			const entry = await refreshRemote(credentialId, signal);
			if (entry.credential.type !== "oauth") {
				throw new AuthpoolError("UPSTREAM_ERROR", `broker returned a non-OAuth row for credential ${credentialId}`);
			}
			return entry.credential as OAuthCredential;
		},
		async prepareForRequest(credentialId, opts) {
			const row = rows.get(credentialId);
			if (row?.entry.credential.type !== "oauth" || row.entry.rotatesInMs === null) return false;
			const dueIn = row.receivedAt + row.entry.rotatesInMs - clock.now();
			if (dueIn > WAIT_THRESHOLD_MS) return false;
			const before = row.json;
			try {
				await fetchSnapshot(
					{ generation: Math.max(0, generation), ms: PREPARE_MAX_WAIT_MS },
					opts?.signal ?? undefined,
				);
			} catch (error) {
				if (opts?.signal?.aborted) throw error;
				log("debug", "broker prepare-for-request wait failed", { error: errorText(error) });
				return false;
			}
			return rows.get(credentialId)?.json !== before;
		},
		async fetchUsageReports(signal) {
			return withCaller(fetchUsage(), signal);
		},
		async getUsageReport(provider, credential, signal) {
			const reports = await withCaller(fetchUsage(), signal);
			if (!reports) return null;
			const candidates = reports.filter((report) => report.provider === provider);
			if (candidates.length <= 1) return candidates[0] ?? null;
			if (credential.type !== "oauth") return null;
			const accountId = lower(credential.accountId);
			const email = lower(credential.email);
			const projectId = lower(credential.projectId);
			return (
				candidates.find((report) => {
					const meta = report.metadata ?? {};
					const scopes = report.limits.map((limit) => limit.scope);
					if (
						accountId &&
						(lower(meta.accountId) === accountId || scopes.some((s) => lower(s.accountId) === accountId))
					)
						return true;
					if (email && lower(meta.email) === email) return true;
					return Boolean(
						projectId && (lower(meta.projectId) === projectId || scopes.some((s) => lower(s.projectId) === projectId)),
					);
				}) ?? null
			);
		},
		async markCredentialSuspect(credentialId, opts) {
			await refreshRemote(credentialId, opts?.signal);
		},
		async recordObservedUsage(report) {
			observed.add(report);
		},
		async invalidateUsageCache(opts) {
			try {
				await http.call("usage stale", "/v1/usage/stale", null, {
					method: "POST",
					body: opts?.provider !== undefined ? { provider: opts.provider } : {},
					...(opts?.signal ? { signal: opts.signal } : {}),
				});
			} finally {
				// Even when the broker could not be told, this client's copy of its answer goes.
				usageCache = undefined;
			}
		},
	};

	const store: RemoteCredentialStore = {
		kind: "broker",
		capabilities: { sharedAcrossInstances: true, leases: false, usageLedger: false, pushChanges: true },
		rows: rowStore,
		cache,
		blocks,
		changes: {
			revision: () => revision,
			subscribe(listener) {
				listeners.add(listener);
				return () => listeners.delete(listener);
			},
		},
		upstream,
		get generation() {
			return generation;
		},
		get streaming() {
			return streaming;
		},
		get source() {
			return source;
		},
		async refreshSnapshot() {
			await fetchSnapshot();
		},
		async close() {
			if (closed) return;
			closed = true;
			// What was observed but not sent yet goes now, if the broker answers within 2 s.
			let timer: ReturnType<typeof setTimeout> | undefined;
			await Promise.race([
				observed.flush().catch(() => {}),
				new Promise<void>((resolve) => {
					timer = setTimeout(resolve, CLOSE_FLUSH_MS);
				}),
			]);
			clearTimeout(timer);
			observed.close();
			options.signal?.removeEventListener("abort", onOuterAbort);
			loop.abort();
			if (persistTimer) clearTimeout(persistTimer);
			persistTimer = undefined;
			await background.catch(() => {});
			cacheEntries.clear();
			listeners.clear();
		},
	};
	if (options.signal?.aborted) await store.close();
	return store;
}
