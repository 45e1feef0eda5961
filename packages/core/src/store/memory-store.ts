/**
 * The reference store: the whole `AuthCredentialStore` contract over plain in-memory maps.
 * Simplest correct code first; every other store is checked against the same conformance suite.
 */
import { z } from "zod";
import { AuthpoolError, invalidOptions } from "../errors";
import { credentialIdentityKey } from "../pool/identity";
import { type AuthCredential, type Clock, type StoredAuthCredential, systemClock } from "../types";
import {
	type ClientUsageBucket,
	type ClientUsageQuery,
	type ClientUsageReport,
	clientUsageIncrements,
	clientUsageSinceBucket,
	mergeClientUsageBucket,
	summarizeClientUsage,
} from "../usage/client-usage";
import type {
	UsageCostHistoryEntry,
	UsageCostHistoryQuery,
	UsageHistoryEntry,
	UsageHistoryQuery,
} from "../usage/types";
import {
	type AuthCredentialStore,
	type CasResult,
	type CredentialBlock,
	type CredentialBlockKey,
	type DisabledPurgeFilter,
	type ProviderSettings,
	type ProviderSettingsStore,
	REPLACED_BY_NEWER,
	type RefreshLease,
	type StaleLease,
	type StoreCapabilities,
	SUPERSEDED_CAUSES,
	tombstoneMatches,
} from "./store";
import { checkStoreInput, plainCopy, storeInputSchemas } from "./store-input";

const HOUR_MS = 3_600_000;

function plainClone<T>(value: T): T {
	if (value === null || typeof value !== "object") return value;
	if (Array.isArray(value)) return value.map(plainClone) as T;
	const out: Record<string, unknown> = {};
	for (const key of Object.keys(value)) {
		const item = plainClone((value as Record<string, unknown>)[key]);
		// An own `__proto__` key (JSON can carry one) stays data, never the copy's prototype.
		if (key === "__proto__")
			Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
		else out[key] = item;
	}
	return out as T;
}
const BACKEND_BRAND = Symbol.for("authpool.memory-store-backend");

/**
 * Shared backing data for memory stores. Two `createMemoryStore({ backend })` instances on one backend
 * behave like two processes on one database (used by two-instance tests). Treat it as opaque.
 */
export interface MemoryStoreBackend {
	readonly [BACKEND_BRAND]: true;
}

interface BackendState extends MemoryStoreBackend {
	rows: Map<number, StoredAuthCredential>;
	nextId: number;
	revision: number;
	listeners: Set<() => void>;
	cache: Map<string, { value: string; expiresAt: number }>;
	/** `session:` keys of `cache`, oldest write first (the pin bound). */
	sessionKeys: Set<string>;
	settings: Map<string, string>;
	blocks: Map<string, CredentialBlock>;
	leases: Map<number, RefreshLease>;
	/** Source of lease heartbeats: backend-wide, so a re-acquired lease never repeats a beat. */
	leaseBeat: number;
	/** Keyed by provider, account, limit and hour bucket: one snapshot per bucket. */
	usage: Map<string, { seq: number; entry: UsageHistoryEntry }>;
	usageSeq: number;
	costs: UsageCostHistoryEntry[];
	/** Client-observed usage, one bucket per install + app + provider + model + hour. */
	clientUsage: Map<string, ClientUsageBucket>;
}

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
	/**
	 * Time source for timestamps and every expiry (cache, blocks, leases).
	 * @default systemClock
	 */
	clock?: Clock;
	/**
	 * Backing data shared with other memory stores (from {@link createMemoryStoreBackend}).
	 * @default a private backend
	 */
	backend?: MemoryStoreBackend;
	/**
	 * Session pins (`session:` cache keys) kept; the least recently written is evicted beyond it, so
	 * the pin cache stays bounded however many sessions pass (an evicted pin only costs a prompt cache).
	 * @default DEFAULT_MAX_SESSION_PINS
	 */
	maxSessionPins?: number;
}

/** A fresh, empty backend that several memory stores can share. */
export function createMemoryStoreBackend(): MemoryStoreBackend {
	const state: BackendState = {
		[BACKEND_BRAND]: true,
		rows: new Map(),
		nextId: 1,
		revision: 0,
		listeners: new Set(),
		cache: new Map(),
		sessionKeys: new Set(),
		settings: new Map(),
		blocks: new Map(),
		leases: new Map(),
		leaseBeat: 0,
		usage: new Map(),
		usageSeq: 0,
		costs: [],
		clientUsage: new Map(),
	};
	return state;
}

function isBackend(value: unknown): value is BackendState {
	return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BACKEND_BRAND] === true;
}

const optionsSchema = z
	.object({
		clock: z
			.custom<Clock>(
				(value) =>
					typeof value === "object" && value !== null && typeof (value as { now?: unknown }).now === "function",
				"must be an object with a now() method",
			)
			.optional(),
		backend: z.custom<MemoryStoreBackend>(isBackend, "must come from createMemoryStoreBackend()").optional(),
		maxSessionPins: z.number().int().positive().optional(),
	})
	.strict();

/** Default bound of session pins (`session:` cache keys) a memory store keeps. */
export const DEFAULT_MAX_SESSION_PINS = 100_000;

const schemas = storeInputSchemas;
const check = checkStoreInput;

/**
 * Validate a credential and take a JSON-normalised copy, so the memory store holds exactly what a
 * persistent store would give back (and cannot hold cycles, functions or other garbage).
 */
function normaliseCredential(value: unknown): AuthCredential {
	// One plain copy (no toJSON), validated and stored as is: a hostile toJSON cannot swap fields later.
	const snapshot = plainCopy(value);
	check(schemas.credential, snapshot, "credential");
	return snapshot as AuthCredential;
}

function blockKey(key: CredentialBlockKey): string {
	return JSON.stringify([key.credentialId, key.providerKey, key.scope]);
}

function usageKey(entry: UsageHistoryEntry): string {
	return JSON.stringify([entry.provider, entry.accountKey, entry.limitId, Math.floor(entry.recordedAt / HOUR_MS)]);
}

/**
 * Create an in-memory credential store implementing the whole store contract (rows, cache, blocks,
 * leases, change feed with push, usage ledger). Data lives as long as its backend.
 *
 * @throws AuthpoolError `INVALID_OPTIONS` on bad options. Methods reject with `INVALID_INPUT` on bad
 * arguments and `STORE_CLOSED` after `close()`.
 * @example
 * const store = createMemoryStore({ clock: { now: () => Date.now() } });
 * const row = await store.rows.insert("anthropic", { type: "api_key", key: "sk-..." });
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): AuthCredentialStore {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) throw invalidOptions("memory store", parsed.error.issues);
	const clock = options.clock ?? systemClock;
	const shared = options.backend !== undefined;
	const state = (options.backend ?? createMemoryStoreBackend()) as BackendState;
	const ownListeners = new Set<() => void>();
	let closed = false;

	const capabilities: StoreCapabilities = {
		sharedAcrossInstances: shared,
		leases: true,
		usageLedger: true,
		pushChanges: true,
	};

	function ensureOpen(): void {
		if (closed) throw new AuthpoolError("STORE_CLOSED", "memory store is closed");
	}

	/** Wrap a method so validation errors and closed-store errors become rejections, never sync throws. */
	function op<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => Promise<R> {
		return async (...args: A) => {
			ensureOpen();
			return fn(...args);
		};
	}

	function bump(): void {
		state.revision++;
		for (const listener of [...state.listeners]) {
			try {
				listener();
			} catch {
				// A listener's failure must not fail the write that already happened, nor starve other listeners.
			}
		}
	}

	// Stored values are plain JSON-like data (inputs are snapshotted by `plainCopy`), so a plain recursive
	// copy is exact, and about 8× cheaper than `structuredClone` per row (reload of many rows).
	const copy = <T>(value: T): T => plainClone(value);

	function activeRow(id: number): StoredAuthCredential | undefined {
		const row = state.rows.get(id);
		return row && row.disabledCause === null ? row : undefined;
	}

	function createRow(provider: string, credential: AuthCredential): StoredAuthCredential {
		const now = clock.now();
		const row: StoredAuthCredential = {
			id: state.nextId++,
			provider,
			credential,
			disabledCause: null,
			version: 1,
			identityKey: credentialIdentityKey(provider, credential),
			createdAt: now,
			updatedAt: now,
			disabledAt: null,
		};
		state.rows.set(row.id, row);
		return row;
	}

	function writeRow(row: StoredAuthCredential, credential: AuthCredential): void {
		row.credential = credential;
		row.identityKey = credentialIdentityKey(row.provider, credential);
		row.version++;
		row.updatedAt = clock.now();
	}

	function disableRow(row: StoredAuthCredential, cause: string): void {
		const now = clock.now();
		row.disabledCause = cause;
		row.disabledAt = now;
		row.updatedAt = now;
		row.version++;
	}

	function purgeTombstones(provider: string, identityKey: string | null): void {
		if (identityKey === null) return;
		purgeMatching({ provider, identityKey, causes: SUPERSEDED_CAUSES });
	}

	function purgeMatching(filter: DisabledPurgeFilter): number {
		let count = 0;
		for (const [id, row] of state.rows) {
			if (!tombstoneMatches(row, filter)) continue;
			state.rows.delete(id);
			for (const [key, block] of state.blocks) if (block.credentialId === id) state.blocks.delete(key);
			state.leases.delete(id);
			count++;
		}
		return count;
	}

	function listRows(provider: string | undefined, active: boolean): StoredAuthCredential[] {
		if (provider !== undefined) check(schemas.provider, provider, "provider");
		const out: StoredAuthCredential[] = [];
		// Map iteration is insertion order, and ids are handed out increasing: this is id order.
		for (const row of state.rows.values()) {
			if ((row.disabledCause === null) !== active) continue;
			if (provider !== undefined && row.provider !== provider) continue;
			out.push(copy(row));
		}
		return out;
	}

	const rows: AuthCredentialStore["rows"] = {
		listActive: op((provider?: string) => listRows(provider, true)),
		listDisabled: op((provider?: string) => listRows(provider, false)),
		get: op((id: number) => {
			check(schemas.id, id, "credential id");
			const row = state.rows.get(id);
			return row ? copy(row) : null;
		}),
		insert: op((provider: string, credential: AuthCredential) => {
			check(schemas.provider, provider, "provider");
			const row = createRow(provider, normaliseCredential(credential));
			bump();
			return copy(row);
		}),
		insertIfProviderAbsent: op((provider: string, credential: AuthCredential) => {
			check(schemas.provider, provider, "provider");
			const normalised = normaliseCredential(credential);
			for (const row of state.rows.values()) {
				if (row.provider === provider && row.disabledCause === null) return null;
			}
			const row = createRow(provider, normalised);
			bump();
			return copy(row);
		}),
		update: op((id: number, credential: AuthCredential) => {
			check(schemas.id, id, "credential id");
			const normalised = normaliseCredential(credential);
			const row = activeRow(id);
			if (!row) return null;
			writeRow(row, normalised);
			bump();
			return copy(row);
		}),
		compareAndSet: op((id: number, expectedVersion: number, credential: AuthCredential): CasResult => {
			check(schemas.id, id, "credential id");
			check(schemas.version, expectedVersion, "expected version");
			const normalised = normaliseCredential(credential);
			const row = activeRow(id);
			if (!row || row.version !== expectedVersion) {
				const current = state.rows.get(id);
				return { ok: false, current: current ? copy(current) : null };
			}
			writeRow(row, normalised);
			bump();
			return { ok: true, row: copy(row) };
		}),
		compareAndSetDisabled: op((id: number, expectedVersion: number, credential: AuthCredential): CasResult => {
			check(schemas.id, id, "credential id");
			check(schemas.version, expectedVersion, "expected version");
			const normalised = normaliseCredential(credential);
			const row = state.rows.get(id);
			if (!row || row.disabledCause === null || row.version !== expectedVersion) {
				return { ok: false, current: row ? copy(row) : null };
			}
			writeRow(row, normalised);
			bump();
			return { ok: true, row: copy(row) };
		}),
		compareAndDisable: op((id: number, expectedVersion: number, cause: string): CasResult => {
			check(schemas.id, id, "credential id");
			check(schemas.version, expectedVersion, "expected version");
			check(schemas.cause, cause, "disable cause");
			const row = activeRow(id);
			if (!row || row.version !== expectedVersion) {
				const current = state.rows.get(id);
				return { ok: false, current: current ? copy(current) : null };
			}
			disableRow(row, cause);
			bump();
			return { ok: true, row: copy(row) };
		}),
		disable: op((id: number, cause: string) => {
			check(schemas.id, id, "credential id");
			check(schemas.cause, cause, "disable cause");
			const row = activeRow(id);
			if (!row) return false;
			disableRow(row, cause);
			bump();
			return true;
		}),
		disableProvider: op((provider: string, cause: string) => {
			check(schemas.provider, provider, "provider");
			check(schemas.cause, cause, "disable cause");
			let count = 0;
			for (const row of state.rows.values()) {
				if (row.provider === provider && row.disabledCause === null) {
					disableRow(row, cause);
					count++;
				}
			}
			if (count > 0) bump();
			return count;
		}),
		purgeDisabled: op((filter: DisabledPurgeFilter) => {
			check(schemas.purgeFilter, filter, "purge filter");
			const count = purgeMatching(filter);
			if (count > 0) bump();
			return count;
		}),
		upsertByIdentity: op((provider: string, credential: AuthCredential) => {
			check(schemas.provider, provider, "provider");
			const normalised = normaliseCredential(credential);
			const identityKey = credentialIdentityKey(provider, normalised);
			let existing: StoredAuthCredential | undefined;
			if (identityKey !== null) {
				for (const row of state.rows.values()) {
					if (row.provider === provider && row.disabledCause === null && row.identityKey === identityKey) {
						existing = row;
						break;
					}
				}
			}
			purgeTombstones(provider, identityKey);
			let row: StoredAuthCredential;
			if (existing) {
				writeRow(existing, normalised);
				row = existing;
			} else {
				row = createRow(provider, normalised);
			}
			bump();
			return { row: copy(row), inserted: !existing };
		}),
		replaceProvider: op((provider: string, credentials: AuthCredential[]) => {
			check(schemas.provider, provider, "provider");
			if (!Array.isArray(credentials)) {
				throw new AuthpoolError("INVALID_INPUT", "Invalid credentials: expected an array");
			}
			// Validate everything before touching anything: the replace is all or nothing.
			const incoming = credentials.map((credential) => normaliseCredential(credential));
			// Tombstones superseded by an identity this call makes active go, as with upsertByIdentity;
			// purged first so the rows this call itself disables stay inspectable.
			for (const credential of incoming) purgeTombstones(provider, credentialIdentityKey(provider, credential));
			const unmatched = [...state.rows.values()].filter(
				(row) => row.provider === provider && row.disabledCause === null,
			);
			for (const credential of incoming) {
				const identityKey = credentialIdentityKey(provider, credential);
				const index = identityKey === null ? -1 : unmatched.findIndex((row) => row.identityKey === identityKey);
				if (index >= 0) {
					const [row] = unmatched.splice(index, 1);
					writeRow(row!, credential);
				} else {
					createRow(provider, credential);
				}
			}
			for (const row of unmatched) disableRow(row, REPLACED_BY_NEWER);
			bump();
			return listRows(provider, true);
		}),
	};

	const maxSessionPins = options.maxSessionPins ?? DEFAULT_MAX_SESSION_PINS;
	// Session pins are kept in write order (re-written → moved last); beyond the bound the oldest goes.
	function cacheSet(key: string, value: string, expiresAt: number): void {
		if (key.startsWith("session:")) {
			state.cache.delete(key);
			state.sessionKeys.delete(key);
			state.sessionKeys.add(key);
			if (state.sessionKeys.size > maxSessionPins) {
				const oldest = state.sessionKeys.values().next().value as string;
				state.sessionKeys.delete(oldest);
				state.cache.delete(oldest);
			}
		}
		state.cache.set(key, { value, expiresAt });
	}

	const cache: AuthCredentialStore["cache"] = {
		get: op((key: string, getOptions?: { includeExpired?: boolean }) => {
			check(schemas.key, key, "cache key");
			const entry = state.cache.get(key);
			if (!entry) return null;
			if (entry.expiresAt <= clock.now() && !getOptions?.includeExpired) return null;
			return entry.value;
		}),
		set: op((key: string, value: string, expiresAt: number) => {
			check(schemas.key, key, "cache key");
			check(schemas.key, value, "cache value");
			check(schemas.finite, expiresAt, "cache expiry");
			cacheSet(key, value, expiresAt);
		}),
		setMany: op((entries: ReadonlyArray<{ key: string; value: string; expiresAt: number }>) => {
			for (const entry of entries) {
				check(schemas.key, entry.key, "cache key");
				check(schemas.key, entry.value, "cache value");
				check(schemas.finite, entry.expiresAt, "cache expiry");
			}
			for (const entry of entries) cacheSet(entry.key, entry.value, entry.expiresAt);
		}),
		delete: op((key: string) => {
			check(schemas.key, key, "cache key");
			state.cache.delete(key);
			state.sessionKeys.delete(key);
		}),
		cleanExpired: op(() => {
			const now = clock.now();
			let count = 0;
			for (const [key, entry] of state.cache) {
				if (entry.expiresAt <= now) {
					state.cache.delete(key);
					state.sessionKeys.delete(key);
					count++;
				}
			}
			return count;
		}),
	};

	const blocks: AuthCredentialStore["blocks"] = {
		upsert: op((block: CredentialBlockKey & { blockedUntil: number }) => {
			const input = check(schemas.block, block, "block");
			const key = blockKey(input);
			const existing = state.blocks.get(key);
			// Max-merge: a shorter write is a no-op (no revision bump: nothing a reader sees changed).
			if (existing && existing.blockedUntil >= input.blockedUntil) return copy(existing);
			const stored: CredentialBlock = { ...input, updatedAt: clock.now() };
			state.blocks.set(key, stored);
			bump();
			return copy(stored);
		}),
		list: op((filter?: { credentialId?: number; providerKey?: string }) => {
			if (filter?.credentialId !== undefined) check(schemas.id, filter.credentialId, "credential id");
			const now = clock.now();
			const out: CredentialBlock[] = [];
			for (const block of state.blocks.values()) {
				if (block.blockedUntil <= now) continue;
				if (filter?.credentialId !== undefined && block.credentialId !== filter.credentialId) continue;
				if (filter?.providerKey !== undefined && block.providerKey !== filter.providerKey) continue;
				out.push(copy(block));
			}
			return out.sort(
				(a, b) =>
					a.credentialId - b.credentialId ||
					a.providerKey.localeCompare(b.providerKey) ||
					a.scope.localeCompare(b.scope),
			);
		}),
		delete: op((credentialId: number, scope?: string) => {
			check(schemas.id, credentialId, "credential id");
			if (scope !== undefined) check(schemas.key, scope, "block scope");
			let count = 0;
			for (const [key, block] of state.blocks) {
				if (block.credentialId === credentialId && (scope === undefined || block.scope === scope)) {
					state.blocks.delete(key);
					count++;
				}
			}
			if (count > 0) bump();
			return count;
		}),
	};

	function writeLease(credentialId: number, owner: string, ttlMs: number): RefreshLease {
		const lease: RefreshLease = { credentialId, owner, expiresAt: clock.now() + ttlMs, ttlMs, beat: ++state.leaseBeat };
		state.leases.set(credentialId, lease);
		return lease;
	}

	const leases: NonNullable<AuthCredentialStore["leases"]> = {
		acquire: op((credentialId: number, owner: string, ttlMs: number, options?: { replace?: StaleLease }) => {
			check(schemas.id, credentialId, "credential id");
			check(schemas.owner, owner, "lease owner");
			check(schemas.ttl, ttlMs, "lease ttl");
			if (options?.replace !== undefined) check(schemas.staleLease, options.replace, "stale lease");
			const current = state.leases.get(credentialId);
			const free =
				current === undefined ||
				current.owner === owner ||
				current.expiresAt <= clock.now() ||
				(options?.replace !== undefined &&
					options.replace.owner === current.owner &&
					options.replace.beat === current.beat);
			if (!free) return { acquired: false, lease: copy(current) };
			return { acquired: true, lease: copy(writeLease(credentialId, owner, ttlMs)) };
		}),
		renew: op((credentialId: number, owner: string, ttlMs: number) => {
			check(schemas.id, credentialId, "credential id");
			check(schemas.owner, owner, "lease owner");
			check(schemas.ttl, ttlMs, "lease ttl");
			const current = state.leases.get(credentialId);
			if (!current || current.owner !== owner) return false;
			writeLease(credentialId, owner, ttlMs);
			return true;
		}),
		release: op((credentialId: number, owner: string) => {
			check(schemas.id, credentialId, "credential id");
			check(schemas.owner, owner, "lease owner");
			const current = state.leases.get(credentialId);
			if (!current || current.owner !== owner) return false;
			state.leases.delete(credentialId);
			return true;
		}),
		get: op((credentialId: number) => {
			check(schemas.id, credentialId, "credential id");
			const current = state.leases.get(credentialId);
			return current ? copy(current) : null;
		}),
	};

	const ledger: NonNullable<AuthCredentialStore["ledger"]> = {
		recordUsageSnapshots: op((entries: UsageHistoryEntry[]) => {
			const valid = check(schemas.usageEntries, entries, "usage snapshots") as UsageHistoryEntry[];
			for (const entry of valid) {
				state.usage.set(usageKey(entry), { seq: state.usageSeq++, entry: copy(entry) });
			}
		}),
		listUsageHistory: op((query?: UsageHistoryQuery) => {
			check(schemas.usageQuery, query, "usage history query");
			return [...state.usage.values()]
				.filter(({ entry }) => query?.provider === undefined || entry.provider === query.provider)
				.filter(({ entry }) => query?.sinceMs === undefined || entry.recordedAt >= query.sinceMs)
				.sort((a, b) => a.entry.recordedAt - b.entry.recordedAt || a.seq - b.seq)
				.map(({ entry }) => copy(entry));
		}),
		recordUsageCosts: op((entries: UsageCostHistoryEntry[]) => {
			const valid = check(schemas.costEntries, entries, "usage costs") as UsageCostHistoryEntry[];
			for (const entry of valid) state.costs.push(copy(entry));
		}),
		recordClientUsage: op((report: ClientUsageReport) => {
			const valid = check(schemas.clientUsageReport, plainCopy(report), "client usage report") as ClientUsageReport;
			for (const increment of clientUsageIncrements(valid)) {
				const key = JSON.stringify([
					increment.installId,
					increment.app,
					increment.provider,
					increment.model,
					increment.hourBucket,
				]);
				const bucket = state.clientUsage.get(key);
				if (bucket) mergeClientUsageBucket(bucket, increment);
				else state.clientUsage.set(key, increment);
			}
		}),
		listClientUsage: op((query?: ClientUsageQuery) => {
			check(schemas.clientUsageQuery, query, "client usage query");
			const since = clientUsageSinceBucket(query?.sinceMs);
			return summarizeClientUsage([...state.clientUsage.values()].filter((bucket) => bucket.hourBucket >= since));
		}),
		listUsageCosts: op((query?: UsageCostHistoryQuery) => {
			check(schemas.costQuery, query, "usage cost query");
			return state.costs
				.map((entry, seq) => ({ entry, seq }))
				.filter(({ entry }) => query?.provider === undefined || entry.provider === query.provider)
				.filter(({ entry }) => query?.accountKey === undefined || entry.accountKey === query.accountKey)
				.filter(({ entry }) => query?.sinceMs === undefined || entry.recordedAt >= query.sinceMs)
				.sort((a, b) => a.entry.recordedAt - b.entry.recordedAt || a.seq - b.seq)
				.map(({ entry }) => copy(entry));
		}),
	};

	// Stored as JSON text, as the durable stores do, so a caller's later mutation never reaches the store.
	const settings: ProviderSettingsStore = {
		get: op((provider: string) => {
			check(schemas.provider, provider, "provider");
			const raw = state.settings.get(provider);
			return raw === undefined ? null : (JSON.parse(raw) as ProviderSettings);
		}),
		set: op((provider: string, value: ProviderSettings) => {
			check(schemas.provider, provider, "provider");
			check(schemas.providerSettings, value, "provider settings");
			state.settings.set(provider, JSON.stringify({ accountPriority: value.accountPriority }));
			bump();
		}),
		list: op(() => {
			const out: Record<string, ProviderSettings> = Object.create(null);
			for (const [provider, raw] of state.settings) out[provider] = JSON.parse(raw) as ProviderSettings;
			return out;
		}),
	};

	return {
		kind: "memory",
		capabilities,
		rows,
		cache,
		blocks,
		leases,
		ledger,
		settings,
		changes: {
			revision() {
				ensureOpen();
				return state.revision;
			},
			subscribe(listener: () => void) {
				ensureOpen();
				// Wrap so the same function subscribed twice gets two independent subscriptions.
				const entry = () => listener();
				state.listeners.add(entry);
				ownListeners.add(entry);
				return () => {
					state.listeners.delete(entry);
					ownListeners.delete(entry);
				};
			},
		},
		async close() {
			if (closed) return;
			closed = true;
			for (const listener of ownListeners) state.listeners.delete(listener);
			ownListeners.clear();
		},
	};
}
