/**
 * The async, capability-based store contract (docs/store-contract.md). One object with concern-specific
 * parts; `leases`, `ledger` and `upstream` are optional capabilities.
 *
 * Time: stores compare expiries against their own injected clock (`{ clock }` at construction,
 * `Date.now` by default). All times are epoch milliseconds.
 */
import type { AuthCredential, OAuthCredential, StoredAuthCredential } from "../types";
import type { ClientUsageQuery, ClientUsageReport, ClientUsageSummary } from "../usage/client-usage";
import type {
	UsageCostHistoryEntry,
	UsageCostHistoryQuery,
	UsageHistoryEntry,
	UsageHistoryQuery,
	UsageReport,
} from "../usage/types";

/** Result of a compare-and-set write. On a lost race `current` is what is stored now (or `null`). */
export type CasResult = { ok: true; row: StoredAuthCredential } | { ok: false; current: StoredAuthCredential | null };

/** Well-known disable causes. */
export const DISABLED_BY_USER = "deleted by user";
export const REPLACED_BY_NEWER = "replaced by newer credential";

/**
 * Causes a new active row of the same identity supersedes (its tombstones are purged on re-login). Any
 * other cause is an automatic disable (`invalid_grant`, revoked, ...), whose tombstone survives a re-login
 * of the same identity until its retention ends.
 */
export const SUPERSEDED_CAUSES: readonly string[] = Object.freeze([DISABLED_BY_USER, REPLACED_BY_NEWER]);

/** Which tombstones `purgeDisabled` hard-deletes (every given condition must hold). */
export interface DisabledPurgeFilter {
	provider?: string;
	identityKey?: string;
	/** Only tombstones disabled before this epoch ms (retention). */
	disabledBefore?: number;
	/** Only these causes. */
	causes?: readonly string[];
	/** Every cause but these. */
	exceptCauses?: readonly string[];
	/** Keep these rows whatever else matches. */
	exceptIds?: readonly number[];
}

export interface CredentialRowStore {
	/** Active rows (of one provider or all), ascending id order. */
	listActive(provider?: string): Promise<StoredAuthCredential[]>;
	/** Soft-disabled rows (tombstones), ascending id order. */
	listDisabled(provider?: string): Promise<StoredAuthCredential[]>;
	/** One row by id, active or disabled. */
	get(id: number): Promise<StoredAuthCredential | null>;
	/** Insert a new active row (no identity matching). */
	insert(provider: string, credential: AuthCredential): Promise<StoredAuthCredential>;
	/**
	 * Transactional: insert only while the provider has no active row (tombstones do not count);
	 * `null` when it has one, so of several instances seeding one provider at once exactly one inserts
	 * (serialised with identity upserts of the provider; a plain `insert` is not a seed and may race it).
	 * Optional: `AuthStorage.insertCredentialIfProviderAbsent` needs it on a store shared across instances.
	 */
	insertIfProviderAbsent?(provider: string, credential: AuthCredential): Promise<StoredAuthCredential | null>;
	/** Unconditional write of an active row; `null` when the row is missing or disabled. */
	update(id: number, credential: AuthCredential): Promise<StoredAuthCredential | null>;
	/** Write only if the row is active and still at `expectedVersion`. */
	compareAndSet(id: number, expectedVersion: number, credential: AuthCredential): Promise<CasResult>;
	/**
	 * Optional. Rewrite a tombstone's data only if the row is disabled and still at `expectedVersion`:
	 * it stays disabled (cause and `disabledAt` kept), the identity key is recomputed from `credential`,
	 * the version bumps. Never revives a row. Key rotation (`rotateEncryptionKeys`) re-seals tombstones
	 * with it; a store without it keeps its tombstones as they were written until they are purged.
	 */
	compareAndSetDisabled?(id: number, expectedVersion: number, credential: AuthCredential): Promise<CasResult>;
	/** Soft-disable only if the row is active and still at `expectedVersion`. */
	compareAndDisable(id: number, expectedVersion: number, cause: string): Promise<CasResult>;
	/** Soft-disable one active row; `false` when it was missing or already disabled. */
	disable(id: number, cause: string): Promise<boolean>;
	/** Soft-disable every active row of a provider; returns how many. */
	disableProvider(provider: string, cause: string): Promise<number>;
	/**
	 * Hard-delete tombstones (with their blocks and leases) matching `filter`; active rows are never
	 * touched. Returns how many. Optional: without it, tombstones are kept (no retention).
	 */
	purgeDisabled?(filter: DisabledPurgeFilter): Promise<number>;
	/**
	 * Transactional: an active row with the same identity key (for this provider) is replaced in place
	 * (same id, version bumped); otherwise a row is inserted. Tombstones of that identity with a
	 * superseded cause (`SUPERSEDED_CAUSES`) are purged; automatic-disable tombstones stay.
	 */
	upsertByIdentity(
		provider: string,
		credential: AuthCredential,
	): Promise<{ row: StoredAuthCredential; inserted: boolean }>;
	/**
	 * Transactional: afterwards exactly `credentials` are the provider's active rows. Rows whose identity
	 * matches an incoming credential are updated in place (ids kept); the others are disabled with
	 * `REPLACED_BY_NEWER`. Earlier superseded tombstones of the incoming identities are purged (as in
	 * `upsertByIdentity`). Returns the provider's active rows.
	 */
	replaceProvider(provider: string, credentials: AuthCredential[]): Promise<StoredAuthCredential[]>;
}

export interface CacheStore {
	/** Value, or `null` when missing or expired (unless `includeExpired`). */
	get(key: string, options?: { includeExpired?: boolean }): Promise<string | null>;
	set(key: string, value: string, expiresAt: number): Promise<void>;
	/** Optional: several `set`s in one write (session pins written behind in batches). */
	setMany?(entries: ReadonlyArray<{ key: string; value: string; expiresAt: number }>): Promise<void>;
	delete(key: string): Promise<void>;
	/** Remove expired entries; returns how many. */
	cleanExpired(): Promise<number>;
}

/** `providerKey` is `provider:type`; `scope` is `""` for a whole-credential block. */
export interface CredentialBlockKey {
	credentialId: number;
	providerKey: string;
	scope: string;
}

export interface CredentialBlock extends CredentialBlockKey {
	/** Epoch ms the block lifts. */
	blockedUntil: number;
	/** Epoch ms of the last write. */
	updatedAt: number;
}

export interface BlockStore {
	/** Max-merge: a write never shortens an existing block. Returns the effective block. */
	upsert(block: CredentialBlockKey & { blockedUntil: number }): Promise<CredentialBlock>;
	/** Unexpired blocks, optionally filtered. */
	list(filter?: { credentialId?: number; providerKey?: string }): Promise<CredentialBlock[]>;
	/** Drop blocks of one credential (all scopes, or one); returns how many. Used to lift early. */
	delete(credentialId: number, scope?: string): Promise<number>;
}

export interface RefreshLease {
	credentialId: number;
	owner: string;
	/**
	 * Epoch ms, by the clock of whoever wrote the lease, when it lapses unless renewed. Only a hint:
	 * wall clocks step. A waiter trusts `beat` instead (see {@link LeaseStore}).
	 */
	expiresAt: number;
	/** The lifetime the holder asked for (ms): how long a waiter watches an unchanged `beat`. */
	ttlMs: number;
	/**
	 * Heartbeat: changes on every acquire and renew. A waiter that sees the same `owner` + `beat` for a
	 * whole `ttlMs` on its own monotonic clock knows the holder stopped renewing, whatever the wall
	 * clocks of either side say, and may take the lease over with `acquire(..., { replace })`.
	 */
	beat: number;
}

/** The lease a waiter watched go stale: taken over only if it is still exactly this one. */
export type StaleLease = Pick<RefreshLease, "owner" | "beat">;

/**
 * One refresher per credential row across processes and hosts.
 *
 * Clock-step safety: a lease is not judged by comparing wall clocks across processes. A store keeps a
 * lapsed lease row (past `expiresAt`) until it is released or taken over, and `get` returns it, so
 * a waiter can watch its heartbeat; a backend that expires keys on its own single clock (Redis `PX`)
 * may drop a lapsed lease instead (then `get` answers `null`).
 */
export interface LeaseStore {
	/**
	 * Take the lease when none is held, when it is already ours (then it is extended and `beat`
	 * changes), when it lapsed by the store's clock, or when `replace` names the current lease exactly
	 * (same owner and beat): the caller watched it go stale. Otherwise refused, with the current lease.
	 */
	acquire(
		credentialId: number,
		owner: string,
		ttlMs: number,
		options?: { replace?: StaleLease },
	): Promise<{ acquired: boolean; lease: RefreshLease }>;
	/**
	 * Extend a lease that is still ours (lapsed or not, as long as nobody took it over); `beat` changes.
	 * `false` when another owner holds it or none is held: the caller is fenced out and must not write.
	 */
	renew(credentialId: number, owner: string, ttlMs: number): Promise<boolean>;
	/** Drop the lease if it is ours (lapsed or not). */
	release(credentialId: number, owner: string): Promise<boolean>;
	/** The current lease, lapsed ones included where the store keeps them; `null` when none. */
	get(credentialId: number): Promise<RefreshLease | null>;
}

export interface ChangeFeed {
	/**
	 * O(1) and cheap: a number that changes whenever rows or blocks changed (in this or another
	 * process/instance). Cache writes need not change it. May be synchronous.
	 */
	revision(): number | Promise<number>;
	/** Optional push notification of the same; returns an unsubscribe function. */
	subscribe?(listener: () => void): () => void;
}

/**
 * Per-provider pool settings shared by every instance on the store (today: the account priority).
 * Small and rarely written; a write changes the change revision so peers pick it up on their next call.
 */
export interface ProviderSettings {
	/** Selectors in priority order (1 = first): a row id, an account id or an email. */
	accountPriority: Array<number | string>;
}

export interface ProviderSettingsStore {
	/** The provider's settings, `null` when none were written. */
	get(provider: string): Promise<ProviderSettings | null>;
	/** Replace the provider's settings (one row per provider). */
	set(provider: string, settings: ProviderSettings): Promise<void>;
	/** Every provider's settings, by provider id. */
	list(): Promise<Record<string, ProviderSettings>>;
}

export interface UsageLedgerStore {
	/** One row per (provider, accountKey, limitId, hour bucket); a later write in the same hour replaces it. */
	recordUsageSnapshots(entries: UsageHistoryEntry[]): Promise<void>;
	/** Oldest first. */
	listUsageHistory(query?: UsageHistoryQuery): Promise<UsageHistoryEntry[]>;
	recordUsageCosts(entries: UsageCostHistoryEntry[]): Promise<void>;
	/** Oldest first. */
	listUsageCosts(query?: UsageCostHistoryQuery): Promise<UsageCostHistoryEntry[]>;
	/**
	 * Optional: add a client's observed usage into its hourly buckets (install + app + provider + model +
	 * hour; `clientUsageIncrements` computes them, `mergeClientUsageBucket` adds one). One transaction.
	 */
	recordClientUsage?(report: ClientUsageReport): Promise<void>;
	/** Optional (with `recordClientUsage`): one summary per install (`summarizeClientUsage` of the buckets). */
	listClientUsage?(query?: ClientUsageQuery): Promise<ClientUsageSummary[]>;
}

/** Hooks a store implements when a remote authority (a broker) owns refresh and usage. */
export interface StoreUpstream {
	/** Refresh on the authority; the returned credential may carry `refresh: "__remote__"`. */
	refreshOAuthCredential?(
		provider: string,
		credentialId: number,
		credential: OAuthCredential,
		signal?: AbortSignal,
	): Promise<OAuthCredential>;
	/** Wait out an imminent rotation before a token is handed out; `true` if the snapshot moved. */
	prepareForRequest?(credentialId: number, options?: { signal?: AbortSignal }): Promise<boolean>;
	fetchUsageReports?(signal?: AbortSignal): Promise<UsageReport[] | null>;
	/** `null` is authoritative: the pool does not fall back to a local fetch. */
	getUsageReport?(provider: string, credential: AuthCredential, signal?: AbortSignal): Promise<UsageReport | null>;
	markCredentialSuspect?(credentialId: number, options?: { signal?: AbortSignal }): Promise<void>;
	/** Drop the authority's cached usage reports (of one provider, or all) before the local ones go. */
	invalidateUsageCache?(options?: { provider?: string; signal?: AbortSignal }): Promise<void>;
	/** Take a client-observed usage report to the authority (may batch; resolves once queued). */
	recordObservedUsage?(report: ClientUsageReport): Promise<void>;
}

export interface StoreCapabilities {
	/** Two stores opened on the same backing data see each other's writes. */
	sharedAcrossInstances: boolean;
	leases: boolean;
	usageLedger: boolean;
	/** The change feed can push (subscribe) rather than only be polled. */
	pushChanges: boolean;
}

export interface AuthCredentialStore {
	/** Short name for logs ("memory", "sqlite", ...). */
	readonly kind: string;
	readonly capabilities: StoreCapabilities;
	readonly rows: CredentialRowStore;
	readonly cache: CacheStore;
	readonly blocks: BlockStore;
	readonly changes: ChangeFeed;
	readonly leases?: LeaseStore;
	readonly ledger?: UsageLedgerStore;
	/** Per-provider settings (account priority). Without it, settings live in the cache (no expiry in practice). */
	readonly settings?: ProviderSettingsStore;
	readonly upstream?: StoreUpstream;
	close(): Promise<void>;
}

/** Does a row match a purge filter (shared by stores that filter in code)? Active rows never match. */
export function tombstoneMatches(
	row: Pick<StoredAuthCredential, "id" | "provider" | "identityKey" | "disabledCause" | "disabledAt">,
	filter: DisabledPurgeFilter,
): boolean {
	if (row.disabledCause === null) return false;
	if (filter.provider !== undefined && row.provider !== filter.provider) return false;
	if (filter.identityKey !== undefined && row.identityKey !== filter.identityKey) return false;
	if (filter.disabledBefore !== undefined && !((row.disabledAt ?? 0) < filter.disabledBefore)) return false;
	if (filter.causes && !filter.causes.includes(row.disabledCause)) return false;
	if (filter.exceptCauses?.includes(row.disabledCause)) return false;
	if (filter.exceptIds?.includes(row.id)) return false;
	return true;
}
