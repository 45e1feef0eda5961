/**
 * `withRedisCache(store, connection, options)`: a Redis layer around any durable store.
 *
 * - Rows and the usage ledger stay in the wrapped store; nothing secret is written to Redis.
 * - Cache (usage reports, session pins) lives in Redis; expiries are judged by the injected clock,
 *   and expired values are kept an hour (`includeExpired` readers) before Redis drops them.
 * - Blocks are written to the wrapped store first (max-merge there is the truth), then mirrored into a
 *   Redis hash with the same max-merge; `list` reads the mirror while it is known to be in sync.
 * - Leases: the wrapped store's lease is the source of truth, always taken. Redis is the fast path in
 *   front of it: a Lua reservation (fencing token from `INCR`) refuses a contended acquire without a
 *   round trip to the database, and `get` answers from the mirror. Two instances, one seeing Redis and
 *   one not, can never both hold a lease because both must win the durable lease.
 * - Change feed: the wrapped store's revision plus a counter moved by a pub/sub channel, so a peer's
 *   write is heard within a Redis round trip even when the wrapped store cannot push.
 * - Redis down or slow: every command is bounded (`timeoutMs`), one warning is logged, operations fall
 *   back to the wrapped store; when Redis answers again the block mirror is rebuilt and the revision
 *   moves so pools reload.
 */
import {
	type AuthCredentialStore,
	AuthpoolError,
	type CacheStore,
	type CredentialBlock,
	type CredentialBlockKey,
	type CredentialRowStore,
	checkStoreInput,
	type LeaseStore,
	type RefreshLease,
	type StaleLease,
	type StoreCapabilities,
	storeInputSchemas as schemas,
	systemClock,
} from "@authpool/core";
import { Redis } from "ioredis";
import { parseRedisCacheOptions, type RedisCacheOptions, type RedisConnection } from "./options";
import { RedisLink } from "./redis-link";
import {
	BLOCK_DELETE,
	BLOCK_MERGE,
	BLOCK_RECONCILE,
	CACHE_CLEAN,
	CACHE_DELETE,
	CACHE_SET,
	DELETE_LEASE_IF,
	MIRROR_LEASE,
	RESERVE_LEASE,
} from "./scripts";

/** How long an expired cache value stays readable with `includeExpired` before Redis drops it. */
export const EXPIRED_CACHE_GRACE_MS = 3_600_000;

/** Health and control of the Redis layer. */
export interface RedisCacheControl {
	/** The key prefix (and channel prefix) in use. */
	readonly prefix: string;
	/** The wrapped durable store. */
	readonly inner: AuthCredentialStore;
	/** Whether Redis is believed reachable now (the last command succeeded and the connection is ready). */
	available(): boolean;
	/** Rebuild the block mirror from the wrapped store now (done on its own after an outage). */
	resync(): Promise<void>;
}

/** A store with a Redis layer in front of it. */
export interface RedisCachedStore extends AuthCredentialStore {
	readonly redis: RedisCacheControl;
}

interface CacheEntry {
	v: string;
	e: number;
}

function blockField(key: CredentialBlockKey): string {
	return JSON.stringify([key.credentialId, key.providerKey, key.scope]);
}

function sortBlocks(blocks: CredentialBlock[]): CredentialBlock[] {
	return blocks.sort(
		(a, b) =>
			a.credentialId - b.credentialId || a.providerKey.localeCompare(b.providerKey) || a.scope.localeCompare(b.scope),
	);
}

/** Flat `[field, value, ...]` (HGETALL in Lua) → lease, or `null` when empty or malformed. */
function leaseFromFlat(flat: unknown): RefreshLease | null {
	if (!Array.isArray(flat) || flat.length === 0) return null;
	const map = new Map<string, string>();
	for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), String(flat[i + 1]));
	return leaseFromMap(map);
}

function leaseFromMap(map: Map<string, string>): RefreshLease | null {
	const owner = map.get("owner");
	const lease = {
		credentialId: Number(map.get("credentialId")),
		owner: owner ?? "",
		expiresAt: Number(map.get("expiresAt")),
		ttlMs: Number(map.get("ttlMs")),
		beat: Number(map.get("beat")),
	};
	if (!owner || !Number.isFinite(lease.expiresAt) || !Number.isFinite(lease.beat) || !Number.isFinite(lease.ttlMs)) {
		return null;
	}
	return lease;
}

/** Redis keeps a lease key this long (ms) past its TTL: a lapsed lease stays visible to waiters a while. */
function leasePx(ttlMs: number): number {
	return Math.max(1, Math.ceil(ttlMs * 2));
}

/**
 * Put a Redis layer in front of a durable store (see the module comment and the package README).
 * The returned store takes ownership of `store` (closing it closes both) and of connections it opens
 * from a `url`; a caller's `client` is left open.
 *
 * @throws AuthpoolError `INVALID_OPTIONS` on bad arguments. Methods reject with the wrapped store's
 * errors, `INVALID_INPUT` on bad arguments and `STORE_CLOSED` after `close()`; never with a Redis error.
 * @example
 * const store = withRedisCache(await createPostgresStore({ connectionString }), { url: "redis://127.0.0.1:6379" });
 */
export function withRedisCache(
	store: AuthCredentialStore,
	connection: RedisConnection,
	options: RedisCacheOptions = {},
): RedisCachedStore {
	const resolved = parseRedisCacheOptions(connection, options);
	if (typeof store !== "object" || store === null || typeof (store as { rows?: unknown }).rows !== "object") {
		throw new AuthpoolError("INVALID_OPTIONS", "Invalid withRedisCache options: store must be an AuthCredentialStore");
	}
	const clock = resolved.clock ?? systemClock;
	const prefix = resolved.prefix;
	const keys = {
		cache: (key: string) => `${prefix}c:${key}`,
		cachePrefix: `${prefix}c:`,
		cacheIndex: `${prefix}cx`,
		blocks: `${prefix}b`,
		lease: (id: number) => `${prefix}l:${id}`,
		leaseToken: `${prefix}lt`,
		channel: `${prefix}changes`,
	};
	const instanceId = `${process.pid}-${Math.random().toString(36).slice(2)}`;

	const owned = "url" in resolved.connection;
	const client: Redis =
		"url" in resolved.connection
			? new Redis(resolved.connection.url, {
					enableOfflineQueue: false,
					maxRetriesPerRequest: 1,
					commandTimeout: resolved.timeoutMs,
					connectTimeout: Math.max(1_000, resolved.timeoutMs * 4),
					retryStrategy: (times) => Math.min(50 * times, 1_000),
				})
			: resolved.connection.client;
	// The subscriber keeps an offline queue so SUBSCRIBE waits for the connection; ioredis re-subscribes
	// after every reconnect.
	const subscriber: Redis =
		"url" in resolved.connection
			? new Redis(resolved.connection.url, {
					maxRetriesPerRequest: null,
					connectTimeout: Math.max(1_000, resolved.timeoutMs * 4),
					retryStrategy: (times) => Math.min(50 * times, 1_000),
				})
			: client.duplicate();

	let closed = false;
	/** The block mirror matches the wrapped store (set by a reconcile, cleared by any failure). */
	let blocksInSync = false;
	let reconciling: Promise<void> | undefined;
	let bumps = 0;
	const listeners = new Set<() => void>();

	function notify(): void {
		for (const listener of [...listeners]) {
			try {
				listener();
			} catch {
				// A listener's failure must not starve the others.
			}
		}
	}

	function bump(): void {
		bumps++;
		notify();
	}

	const link = new RedisLink({
		client,
		logger: resolved.logger,
		timeoutMs: resolved.timeoutMs,
		retryAfterMs: resolved.retryAfterMs,
		warnIntervalMs: resolved.warnIntervalMs,
		onDown: () => {
			blocksInSync = false;
		},
		onRecover: () => {
			blocksInSync = false;
			// Notices may have been missed while away, and the rebuilt mirror may now hold blocks peers
			// read without: make this pool and the peers' reload.
			void reconcileBlocks().finally(() => {
				if (closed) return;
				bump();
				publish();
			});
		},
	});

	subscriber.on("error", () => {
		// Reported through the command link; a subscriber error alone must not crash the process.
	});
	let subscribedOnce = false;
	subscriber.on("ready", () => {
		// After a reconnect, notices sent while we were away are lost: move the revision once.
		if (subscribedOnce && !closed) bump();
		subscribedOnce = true;
	});
	subscriber.on("message", (channel: string, message: string) => {
		if (channel !== keys.channel || message === instanceId || closed) return;
		bump();
	});
	subscriber.subscribe(keys.channel).catch(() => undefined);

	let innerUnsubscribe: (() => void) | undefined;
	if (store.changes.subscribe) innerUnsubscribe = store.changes.subscribe(() => notify());

	function ensureOpen(): void {
		if (closed) throw new AuthpoolError("STORE_CLOSED", "redis-cached store is closed");
	}

	function op<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
		return async (...args: A) => {
			ensureOpen();
			return fn(...args);
		};
	}

	function publish(): void {
		void link.run((redis) => redis.publish(keys.channel, instanceId));
	}

	/** Run `write`; publish when `changed(result)` says it changed something. */
	async function writing<R>(write: Promise<R>, changed: (result: R) => boolean): Promise<R> {
		const result = await write;
		if (changed(result)) publish();
		return result;
	}

	const evalScript = (redis: Redis, script: string, keyList: string[], args: Array<string | number>) =>
		redis.eval(script, keyList.length, ...keyList, ...args.map(String));

	// ---- rows: the wrapped store, plus a change notice ----
	const inner = store.rows;
	const rows: CredentialRowStore = {
		listActive: op((provider?: string) => inner.listActive(provider)),
		listDisabled: op((provider?: string) => inner.listDisabled(provider)),
		get: op((id: number) => inner.get(id)),
		insert: op((provider, credential) => writing(inner.insert(provider, credential), () => true)),
		update: op((id, credential) => writing(inner.update(id, credential), (row) => row !== null)),
		compareAndSet: op((id, expected, credential) =>
			writing(inner.compareAndSet(id, expected, credential), (result) => result.ok),
		),
		compareAndDisable: op((id, expected, cause) =>
			writing(inner.compareAndDisable(id, expected, cause), (result) => result.ok),
		),
		disable: op((id, cause) => writing(inner.disable(id, cause), (done) => done)),
		disableProvider: op((provider, cause) => writing(inner.disableProvider(provider, cause), (count) => count > 0)),
		upsertByIdentity: op((provider, credential) => writing(inner.upsertByIdentity(provider, credential), () => true)),
		replaceProvider: op((provider, credentials) => writing(inner.replaceProvider(provider, credentials), () => true)),
	};
	const insertIfAbsent = inner.insertIfProviderAbsent?.bind(inner);
	if (insertIfAbsent) {
		rows.insertIfProviderAbsent = op((provider, credential) =>
			writing(insertIfAbsent(provider, credential), (row) => row !== null),
		);
	}
	const purge = inner.purgeDisabled?.bind(inner);
	if (purge) rows.purgeDisabled = op((filter) => writing(purge(filter), (count) => count > 0));
	// Optional in the contract: offered only when the wrapped store has it (key rotation re-seals tombstones).
	const rewriteDisabled = inner.compareAndSetDisabled?.bind(inner);
	if (rewriteDisabled) {
		rows.compareAndSetDisabled = op((id, expected, credential) =>
			writing(rewriteDisabled(id, expected, credential), (result) => result.ok),
		);
	}

	// ---- cache: Redis, the wrapped store's cache while Redis is away ----
	const cache: CacheStore = {
		get: op(async (key: string, getOptions?: { includeExpired?: boolean }) => {
			checkStoreInput(schemas.key, key, "cache key");
			const got = await link.run((redis) => redis.get(keys.cache(key)));
			if (!got.ok) return store.cache.get(key, getOptions);
			if (got.value === null) return null;
			let entry: CacheEntry;
			try {
				entry = JSON.parse(got.value) as CacheEntry;
			} catch {
				return null;
			}
			if (typeof entry?.v !== "string" || typeof entry.e !== "number") return null;
			if (entry.e <= clock.now() && !getOptions?.includeExpired) return null;
			return entry.v;
		}),
		set: op(async (key: string, value: string, expiresAt: number) => {
			checkStoreInput(schemas.key, key, "cache key");
			checkStoreInput(schemas.key, value, "cache value");
			checkStoreInput(schemas.finite, expiresAt, "cache expiry");
			const px = Math.max(1, Math.ceil(Math.max(0, expiresAt - clock.now()) + EXPIRED_CACHE_GRACE_MS));
			const entry = JSON.stringify({ v: value, e: expiresAt } satisfies CacheEntry);
			const done = await link.run((redis) =>
				evalScript(
					redis,
					CACHE_SET,
					[keys.cache(key), keys.cacheIndex],
					[entry, px, expiresAt, key, clock.now() - EXPIRED_CACHE_GRACE_MS],
				),
			);
			if (!done.ok) await store.cache.set(key, value, expiresAt);
		}),
		delete: op(async (key: string) => {
			checkStoreInput(schemas.key, key, "cache key");
			await link.run((redis) => evalScript(redis, CACHE_DELETE, [keys.cache(key), keys.cacheIndex], [key]));
			// Also where outage-time writes went, so a later outage cannot bring the value back.
			await store.cache.delete(key);
		}),
		cleanExpired: op(async () => {
			const done = await link.run((redis) =>
				evalScript(redis, CACHE_CLEAN, [keys.cacheIndex], [clock.now(), keys.cachePrefix]),
			);
			const fromInner = await store.cache.cleanExpired();
			return (done.ok ? Number(done.value) : 0) + fromInner;
		}),
	};

	// Batched pin writes (write-behind) go to Redis like single ones.
	cache.setMany = op(async (entries: ReadonlyArray<{ key: string; value: string; expiresAt: number }>) => {
		await Promise.all(entries.map((entry) => cache.set(entry.key, entry.value, entry.expiresAt)));
	});

	// ---- blocks: the wrapped store first, mirrored into Redis ----
	async function reconcileBlocks(): Promise<void> {
		if (reconciling) return reconciling;
		reconciling = (async () => {
			try {
				const snapshotAt = clock.now();
				const durable = await store.blocks.list();
				const args: Array<string | number> = [snapshotAt, clock.now()];
				for (const block of durable) args.push(blockField(block), JSON.stringify(block), block.blockedUntil);
				const done = await link.run((redis) => evalScript(redis, BLOCK_RECONCILE, [keys.blocks], args));
				if (done.ok) blocksInSync = true;
			} catch {
				// The wrapped store failed: stay out of sync; reads keep going to it.
			} finally {
				reconciling = undefined;
			}
		})();
		return reconciling;
	}

	const blocks: AuthCredentialStore["blocks"] = {
		upsert: op(async (block: CredentialBlockKey & { blockedUntil: number }) => {
			checkStoreInput(schemas.block, block, "block");
			const effective = await store.blocks.upsert(block);
			const mirrored = await link.run((redis) =>
				evalScript(
					redis,
					BLOCK_MERGE,
					[keys.blocks],
					[blockField(effective), JSON.stringify(effective), effective.blockedUntil, clock.now()],
				),
			);
			if (!mirrored.ok) blocksInSync = false;
			publish();
			return effective;
		}),
		list: op(async (filter?: { credentialId?: number; providerKey?: string }) => {
			checkStoreInput(schemas.blockFilter, filter, "block filter");
			if (!blocksInSync && link.available) await reconcileBlocks();
			if (blocksInSync) {
				const got = await link.run((redis) => redis.hgetall(keys.blocks));
				if (got.ok) {
					const now = clock.now();
					const out: CredentialBlock[] = [];
					for (const raw of Object.values(got.value)) {
						let block: CredentialBlock;
						try {
							block = JSON.parse(raw) as CredentialBlock;
						} catch {
							continue;
						}
						if (block.blockedUntil <= now) continue;
						if (filter?.credentialId !== undefined && block.credentialId !== filter.credentialId) continue;
						if (filter?.providerKey !== undefined && block.providerKey !== filter.providerKey) continue;
						out.push(block);
					}
					return sortBlocks(out);
				}
			}
			return store.blocks.list(filter);
		}),
		delete: op(async (credentialId: number, scope?: string) => {
			checkStoreInput(schemas.id, credentialId, "credential id");
			if (scope !== undefined) checkStoreInput(schemas.key, scope, "block scope");
			const count = await store.blocks.delete(credentialId, scope);
			const mirrored = await link.run((redis) =>
				evalScript(redis, BLOCK_DELETE, [keys.blocks], [credentialId, scope ?? "", scope === undefined ? "0" : "1"]),
			);
			if (!mirrored.ok) blocksInSync = false;
			if (count > 0) publish();
			return count;
		}),
	};

	// ---- leases: the durable lease is the truth; Redis reserves and mirrors in front of it ----
	function leaseArgs(lease: RefreshLease): Array<string | number> {
		return [lease.credentialId, lease.owner, lease.expiresAt, lease.ttlMs, lease.beat, leasePx(lease.ttlMs)];
	}

	function mirrorLease(lease: RefreshLease, onlyIfToken: string): Promise<unknown> {
		return link.run((redis) =>
			evalScript(
				redis,
				MIRROR_LEASE,
				[keys.lease(lease.credentialId), keys.leaseToken],
				[onlyIfToken, ...leaseArgs(lease)],
			),
		);
	}

	function dropLeaseIf(credentialId: number, field: "owner" | "token", value: string): Promise<unknown> {
		return link.run((redis) => evalScript(redis, DELETE_LEASE_IF, [keys.lease(credentialId)], [field, value]));
	}

	function leaseStore(durable: LeaseStore): LeaseStore {
		return {
			acquire: op(
				async (credentialId: number, owner: string, ttlMs: number, acquireOptions?: { replace?: StaleLease }) => {
					checkStoreInput(schemas.id, credentialId, "credential id");
					checkStoreInput(schemas.owner, owner, "lease owner");
					checkStoreInput(schemas.ttl, ttlMs, "lease ttl");
					const replace = acquireOptions?.replace;
					if (replace !== undefined) checkStoreInput(schemas.staleLease, replace, "stale lease");
					const now = clock.now();
					const reserved = await link.run((redis) =>
						evalScript(
							redis,
							RESERVE_LEASE,
							[keys.lease(credentialId), keys.leaseToken],
							[
								owner,
								now,
								ttlMs,
								replace?.owner ?? "",
								replace?.beat ?? "",
								credentialId,
								now + ttlMs,
								Math.ceil(ttlMs),
							],
						),
					);
					let token = "";
					if (reserved.ok) {
						const [won, detail] = reserved.value as [number, unknown];
						if (Number(won) !== 1) {
							const current = leaseFromFlat(detail);
							if (current) return { acquired: false, lease: current };
						} else token = String(detail);
					}
					let result: { acquired: boolean; lease: RefreshLease };
					try {
						result = await durable.acquire(credentialId, owner, ttlMs, acquireOptions);
					} catch (error) {
						if (token) await dropLeaseIf(credentialId, "token", token);
						throw error;
					}
					if (token) await mirrorLease(result.lease, result.acquired ? "" : token);
					else if (result.acquired) await mirrorLease(result.lease, "");
					return result;
				},
			),
			renew: op(async (credentialId: number, owner: string, ttlMs: number) => {
				checkStoreInput(schemas.id, credentialId, "credential id");
				checkStoreInput(schemas.owner, owner, "lease owner");
				checkStoreInput(schemas.ttl, ttlMs, "lease ttl");
				const renewed = await durable.renew(credentialId, owner, ttlMs);
				const current = renewed ? await durable.get(credentialId) : null;
				if (current && current.owner === owner) await mirrorLease(current, "");
				else await dropLeaseIf(credentialId, "owner", owner);
				return renewed;
			}),
			release: op(async (credentialId: number, owner: string) => {
				checkStoreInput(schemas.id, credentialId, "credential id");
				checkStoreInput(schemas.owner, owner, "lease owner");
				const released = await durable.release(credentialId, owner);
				await dropLeaseIf(credentialId, "owner", owner);
				return released;
			}),
			get: op(async (credentialId: number) => {
				checkStoreInput(schemas.id, credentialId, "credential id");
				const got = await link.run((redis) => redis.hgetall(keys.lease(credentialId)));
				if (got.ok) {
					const lease = leaseFromMap(new Map(Object.entries(got.value)));
					if (lease) return lease;
				}
				return durable.get(credentialId);
			}),
		};
	}

	const capabilities: StoreCapabilities = {
		...store.capabilities,
		leases: store.capabilities.leases && store.leases !== undefined,
		pushChanges: true,
	};

	const control: RedisCacheControl = {
		prefix,
		inner: store,
		available: () => link.available,
		resync: async () => {
			ensureOpen();
			blocksInSync = false;
			await reconcileBlocks();
		},
	};

	const wrapped: RedisCachedStore = {
		kind: `redis-cache:${store.kind}`,
		capabilities,
		rows,
		cache,
		blocks,
		changes: {
			revision() {
				ensureOpen();
				const base = store.changes.revision();
				return typeof base === "number" ? base + bumps : base.then((value) => value + bumps);
			},
			subscribe(listener: () => void) {
				ensureOpen();
				const entry = () => listener();
				listeners.add(entry);
				return () => {
					listeners.delete(entry);
				};
			},
		},
		redis: control,
		async close() {
			if (closed) return;
			closed = true;
			link.close();
			listeners.clear();
			innerUnsubscribe?.();
			subscriber.disconnect();
			if (owned) client.disconnect();
			await store.close();
		},
	};
	const optional = wrapped as { -readonly [K in keyof RedisCachedStore]: RedisCachedStore[K] };
	if (store.leases && capabilities.leases) optional.leases = leaseStore(store.leases);
	if (store.ledger) optional.ledger = store.ledger;
	if (store.upstream) optional.upstream = store.upstream;
	const settings = store.settings;
	if (settings) {
		// Durable, like rows: a write also tells peers through pub/sub.
		optional.settings = {
			get: op((provider: string) => settings.get(provider)),
			list: op(() => settings.list()),
			set: op((provider, value) => writing(settings.set(provider, value), () => true)),
		};
	}
	return wrapped;
}
