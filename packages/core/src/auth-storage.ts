/**
 * `AuthStorage`: the public facade of the pool. It validates options and wires the modules that do
 * the work — `pool` (rows, generation, change polling), `cascade` (precedence), `select` (choice of
 * row), `affinity` (session pins), `blocks`, `refresh` (OAuth), `rotation` (limits and auth errors),
 * `retry` (resolver policy), `events`, `usage/service` and `health`. Method names and argument orders
 * follow the reference implementation; methods that only read the loaded snapshot are synchronous.
 */
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { z } from "zod";
import { AuthpoolError, invalidOptions } from "./errors";
import {
	createProviderRegistry,
	type OAuthLoginCallbacks,
	type PluginContext,
	type ProviderPlugin,
	type ProviderRegistry,
} from "./plugin";
import { type ConfigValueResolver, type CredentialOrigin, createConfigValueResolver, KeyCascade } from "./pool/cascade";
import {
	type CredentialDisabledEvent,
	CredentialDisabledEvents,
	type CredentialDisabledListener,
	GenerationCounter,
	type GenerationListener,
} from "./pool/events";
import { credentialIdentityKey, oauthIdentity } from "./pool/identity";
import { CredentialPool, providerSettingsCacheKey } from "./pool/pool";
import { type AuthCredentialSnapshot, type AuthCredentialSnapshotEntry, snapshotEntry } from "./pool/snapshot";
import { errorMessage } from "./refresh/classify";
import { defaultLeaseOwner } from "./refresh/lease-owner";
import { OAuthRefresher } from "./refresh/refresh";
import { DEFAULT_MAX_SESSIONS, SessionAffinity } from "./selection/affinity";
import { CredentialBlocks, providerTypeKey } from "./selection/blocks";
import {
	AccountPolicies,
	type AccountPolicy,
	type AccountPolicyOptions,
	type AccountSelectionMode,
	selectorMatches,
} from "./selection/policy";
import { type ApiKeyResolver, createApiKeyResolver, runWithAuth, type WithAuthOptions } from "./selection/retry";
import {
	CredentialRotation,
	type InvalidateCredentialMatchingOptions,
	type MarkUsageLimitOptions,
	type RotateSessionOptions,
	type UsageLimitMarkResult,
} from "./selection/rotation";
import { CredentialSelector, type SelectionOptions } from "./selection/select";
import { type AuthCredentialStore, DISABLED_BY_USER, type DisabledPurgeFilter, REPLACED_BY_NEWER } from "./store/store";
import {
	type AuthCredential,
	type Clock,
	type Env,
	type FetchLike,
	type Logger,
	type OAuthCredential,
	type StoredAuthCredential,
	silentLogger,
	systemClock,
} from "./types";
import {
	type ClientUsageQuery,
	type ClientUsageReport,
	type ClientUsageSummary,
	clientUsageQuerySchema,
	clientUsageReportSchema,
	type ObservedUsageEntry,
} from "./usage/client-usage";
import { type CheckCredentialsOptions, type CredentialHealthResult, checkCredentials } from "./usage/health";
import { type ResetCreditAccountStatus, type ResetCreditRedeemOutcome, ResetCredits } from "./usage/resets";
import { UsageService } from "./usage/service";
import type { UsageHistoryEntry, UsageHistoryQuery, UsageReport } from "./usage/types";
import { raceSignal } from "./util/abort";
import {
	inputSchemas as arg,
	checkArg,
	checkCredential,
	checkProviderId as checkProvider,
	checkSelectionOptions,
	checkSessionId as checkSession,
} from "./util/input";
import { redactString } from "./util/redact";
import { safeLogger } from "./util/safe-logger";

/** Options of `new AuthStorage(store, options)`. Validated at construction. */
export interface AuthStorageOptions {
	/** Provider plugins (or a registry built with `createProviderRegistry`). @default [] */
	providers?: readonly ProviderPlugin[] | ProviderRegistry;
	/** Time source. @default Date.now */
	clock?: Clock;
	/** Environment for env-var keys and plugins. @default process.env */
	env?: Env;
	/** fetch used by plugins. @default globalThis.fetch */
	fetch?: FetchLike;
	/** @default silent */
	logger?: Logger;
	/** [0,1) source (usage cache jitter). @default Math.random */
	random?: () => number;
	/** Listener for automatic disables (counts as a subscriber for the replay buffer). */
	onCredentialDisabled?: CredentialDisabledListener;
	/**
	 * Resolves config override values and stored API keys.
	 * @default value names a set env var → its value; else literal (`!command` only with `allowCommandConfigValues`)
	 */
	configValueResolver?: ConfigValueResolver;
	/**
	 * Refresh lease owner id; unique per process/instance. The default names this host and process
	 * (`<host>:<pid>:<uuid>`) so a waiter on the same host can tell a starved holder from a dead one.
	 * @default `<hostname>:<pid>:<random UUID>`
	 */
	owner?: string;
	/** Bound of one usage request. @default 10_000 */
	usageRequestTimeoutMs?: number;
	/** Bound of one OAuth refresh call. @default 10_000 */
	refreshTimeoutMs?: number;
	/** Refresh an OAuth token when `now + refreshSkewMs >= expires`. @default 60_000 */
	refreshSkewMs?: number;
	/**
	 * Lifetime of the cross-process refresh lease (renewed while a refresh runs); a crashed holder's lease
	 * is taken over after it. @default 15_000
	 */
	refreshLeaseTtlMs?: number;
	/** Sessions whose pins are kept in memory (LRU). @default 10_000 */
	maxSessions?: number;
	/** Let the default resolver run `!command` config values (asynchronously through a shell, with a timeout). @default false */
	allowCommandConfigValues?: boolean;
	/** Label of the store in `describeCredentialSource`. @default `${store.kind} store` */
	sourceLabel?: string;
	/** Bound of one reset-credit plugin call (`list`, `redeem`). @default 30_000 */
	pluginTimeoutMs?: number;
	/**
	 * How long tombstones (disabled rows) are kept, from their disable time; older ones are pruned when
	 * tombstones are read (`listDisabledCredentials`) and on re-login. @default 30 days
	 */
	tombstoneRetentionMs?: number;
	/** Default selection mode of every provider (see `accountPolicies`). @default "balanced" */
	accountSelection?: AccountSelectionMode;
	/**
	 * Per-provider policies: selection mode, reserve and reclaim lines (validated: 0–100, reclaim above
	 * reserve, reclaim only for a plugin with a usage provider). Changeable live with `setAccountSelection`
	 * and `setAccountReserve`; the account priority is stored (`setAccountPriority`).
	 */
	accountPolicies?: Record<string, AccountPolicyOptions>;
	/**
	 * Names this install in client-observed usage (`recordObservedUsage`): stable across restarts.
	 * @default a hash of the host name
	 */
	installId?: string;
	/** The program making the requests, in client-observed usage (`"gateway"`, `"ci"`, ...). */
	app?: string;
}

/** Where a session's pin stands (`getSessionPin`). */
export interface SessionPinStatus {
	credentialId: number;
	type: "oauth" | "api_key";
	/** Set with `pinSession` (kept across restarts and failovers until `unpinSession`). */
	explicit: boolean;
	/**
	 * `active`: the pinned row serves the session; `waiting`: it is blocked and the session waits for it
	 * (fixed mode: its key is still handed out); `failed-over`: it is blocked and the session is served by
	 * another row meanwhile (balanced mode; an explicit pin is returned to once it frees).
	 */
	state: "active" | "waiting" | "failed-over";
	/** When the pinned row's block lifts (absent while active). */
	blockedUntil?: number;
}

const fn = (what: string) =>
	z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", `${what} must be a function`);
const objWith = (what: string, methods: string[]) =>
	z.custom<object>(
		(v) =>
			typeof v === "object" &&
			v !== null &&
			methods.every((m) => typeof (v as Record<string, unknown>)[m] === "function"),
		`${what} must have ${methods.join(", ")}`,
	);
const duration = z.number().int().positive().max(2_147_483_647);

const optionsSchema = z.object({
	providers: z
		.union([
			z.array(z.custom<ProviderPlugin>((v) => typeof v === "object" && v !== null, "plugin must be an object")),
			objWith("providers registry", ["get", "list"]),
		])
		.optional(),
	clock: objWith("clock", ["now"]).optional(),
	env: z.record(z.string(), z.union([z.string(), z.undefined()])).optional(),
	fetch: fn("fetch").optional(),
	logger: objWith("logger", ["debug", "info", "warn", "error"]).optional(),
	random: fn("random").optional(),
	onCredentialDisabled: fn("onCredentialDisabled").optional(),
	configValueResolver: fn("configValueResolver").optional(),
	owner: z.string().min(1).optional(),
	usageRequestTimeoutMs: duration.optional(),
	refreshTimeoutMs: duration.optional(),
	refreshSkewMs: z.number().int().nonnegative().max(86_400_000).optional(),
	refreshLeaseTtlMs: duration.optional(),
	maxSessions: z.number().int().positive().optional(),
	allowCommandConfigValues: z.boolean().optional(),
	sourceLabel: z.string().optional(),
	pluginTimeoutMs: duration.optional(),
	tombstoneRetentionMs: z
		.number()
		.int()
		.positive()
		.max(10 * 365 * 86_400_000)
		.optional(),
	accountSelection: z.enum(["balanced", "fixed"]).optional(),
	installId: clientUsageReportSchema.shape.installId.optional(),
	app: clientUsageReportSchema.shape.app,
	accountPolicies: z
		.record(
			z.string(),
			z.object({
				accountSelection: z.enum(["balanced", "fixed"]).optional(),
				reservePct: z.number().min(0).max(100).optional(),
				reclaimAbovePct: z.number().min(0).max(100).optional(),
			}),
		)
		.optional(),
});

/** Run the argument checks, turning a throw into a rejection (for methods that return a promise). */
function checked<T>(check: () => void, run: () => Promise<T>): Promise<T> {
	try {
		check();
	} catch (error) {
		return Promise.reject(error);
	}
	return run();
}

/** An OAuth access token with the identity a caller may need for headers. */
export interface OAuthAccess {
	accessToken: string;
	credentialId?: number;
	accountId?: string;
	email?: string;
	projectId?: string;
	enterpriseUrl?: string;
	apiEndpoint?: string;
}

/** Per-account result of `getOAuthAccesses` / `getOAuthAccessAt`. */
export type OAuthAccessResolution =
	| ({ ok: true } & OAuthAccess)
	| ({ ok: false; error: string } & Omit<OAuthAccess, "accessToken">);

/** One stored OAuth account, in stable order; `position` is the selector of `getOAuthAccessAt`. */
export interface OAuthAccountSummary {
	position: number;
	credentialId: number;
	/** 1-based place in the provider's account priority (`setAccountPriority`); absent when unlisted. */
	priority?: number;
	accountId?: string;
	email?: string;
	projectId?: string;
	enterpriseUrl?: string;
}

const NEVER_ABORTED = new AbortController().signal;

/** Default retention of tombstones: 30 days from the disable. */
export const DEFAULT_TOMBSTONE_RETENTION_MS = 30 * 86_400_000;

/** A tombstone as `listDisabledCredentials` reports it (no secrets). */
export interface DisabledCredentialSummary {
	credentialId: number;
	provider: string;
	credentialType: "oauth" | "api_key";
	disabledCause: string;
	/** Epoch ms of the disable. */
	disabledAt: number | null;
	email?: string;
	accountId?: string;
}

/**
 * A pool of credentials over an `AuthCredentialStore`.
 *
 * @example
 * const storage = new AuthStorage(createMemoryStore(), { providers: [anthropic] });
 * await storage.reload();
 * const key = await storage.getApiKey("anthropic", sessionId);
 * Every method checks its arguments: provider ids must match `PROVIDER_ID_PATTERN`
 * (`^[a-z0-9][a-z0-9._-]{0,63}$`, e.g. `openai-codex`, `google-gemini-cli`), session ids are non-empty
 * strings of at most `MAX_SESSION_ID_LENGTH` (1 KiB), credentials are snapshotted once (plain copy,
 * `toJSON` ignored) and that copy is validated and stored. A bad argument is `AuthpoolError`
 * `INVALID_INPUT` naming the argument, never its value: thrown by synchronous methods, a rejection from
 * promise-returning ones. The injected logger and every listener are isolated: their throws never fail
 * a call.
 * @throws AuthpoolError `INVALID_OPTIONS` when an option has the wrong shape.
 */
export class AuthStorage {
	readonly #store: AuthCredentialStore;
	readonly #registry: ProviderRegistry;
	readonly #clock: Clock;
	readonly #env: Env;
	readonly #fetch: FetchLike;
	readonly #logger: Logger;
	readonly #random: () => number;
	readonly #usageRequestTimeoutMs: number | undefined;
	readonly #generation: GenerationCounter;
	readonly #events: CredentialDisabledEvents;
	readonly #blocks: CredentialBlocks;
	readonly #pool: CredentialPool;
	readonly #affinity: SessionAffinity;
	readonly #refresher: OAuthRefresher;
	readonly #selector: CredentialSelector;
	readonly #cascade: KeyCascade;
	readonly #rotation: CredentialRotation;
	readonly #resets: ResetCredits;
	readonly #policies: AccountPolicies;
	readonly #tombstoneRetentionMs: number;
	#usageService: UsageService | undefined;
	readonly #installId: string;
	readonly #hostname: string;
	readonly #app: string | undefined;
	/** Conditional inserts on a store without `insertIfProviderAbsent`, one at a time. */
	#conditionalInserts: Promise<unknown> = Promise.resolve();
	#closed = false;

	constructor(store: AuthCredentialStore, options: AuthStorageOptions = {}) {
		if (!store || typeof store !== "object" || !store.rows || !store.changes) {
			throw new AuthpoolError("INVALID_OPTIONS", "AuthStorage needs an AuthCredentialStore");
		}
		const parsed = optionsSchema.safeParse(options);
		if (!parsed.success) throw invalidOptions("AuthStorage", parsed.error.issues);
		this.#store = store;
		const providers = options.providers ?? [];
		this.#registry = Array.isArray(providers)
			? createProviderRegistry(providers as ProviderPlugin[])
			: (providers as ProviderRegistry);
		this.#clock = options.clock ?? systemClock;
		this.#env = options.env ?? process.env;
		this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
		// Wrapped once: every module gets a logger that cannot throw into a call that already committed.
		this.#logger = safeLogger(options.logger ?? silentLogger);
		this.#random = options.random ?? Math.random;
		this.#usageRequestTimeoutMs = options.usageRequestTimeoutMs;
		this.#hostname = hostname().slice(0, 255) || "unknown";
		this.#installId =
			options.installId ??
			createHash("sha256").update(`authpool install\0${this.#hostname}`).digest("hex").slice(0, 16);
		this.#app = options.app;
		const logger = this.#logger;
		const clock = this.#clock;

		try {
			this.#policies = new AccountPolicies(
				this.#registry,
				options.accountSelection ? { accountSelection: options.accountSelection } : {},
				options.accountPolicies ?? {},
			);
		} catch (error) {
			throw new AuthpoolError("INVALID_OPTIONS", `Invalid AuthStorage options: ${errorMessage(error)}`);
		}
		this.#tombstoneRetentionMs = options.tombstoneRetentionMs ?? DEFAULT_TOMBSTONE_RETENTION_MS;
		this.#generation = new GenerationCounter(logger);
		this.#events = new CredentialDisabledEvents(logger);
		if (options.onCredentialDisabled) this.#events.subscribe(options.onCredentialDisabled);
		this.#blocks = new CredentialBlocks({
			store,
			clock,
			logger,
			onChange: (reason) => this.#generation.bump(reason),
		});
		this.#pool = new CredentialPool({
			store,
			logger,
			generation: this.#generation,
			blocks: this.#blocks,
			onSettings: (settings) => this.#policies.adoptStored(settings),
		});
		this.#affinity = new SessionAffinity({
			store,
			clock,
			logger,
			maxSessions: options.maxSessions ?? DEFAULT_MAX_SESSIONS,
		});
		this.#refresher = new OAuthRefresher({
			store,
			registry: this.#registry,
			fetch: this.#fetch,
			clock,
			logger,
			env: this.#env,
			owner: options.owner ?? defaultLeaseOwner(),
			...(options.refreshTimeoutMs !== undefined ? { timeoutMs: options.refreshTimeoutMs } : {}),
			...(options.refreshSkewMs !== undefined ? { skewMs: options.refreshSkewMs } : {}),
			...(options.refreshLeaseTtlMs !== undefined ? { leaseTtlMs: options.refreshLeaseTtlMs } : {}),
			onRowUpdated: (row) => this.#pool.upsert(row),
			onRowDisabled: (row, cause) => this.#onRowDisabled(row, cause),
			onTransientFailure: (row, until) => {
				void this.#blocks.block(row.id, `${row.provider}:oauth`, until, { kind: "refresh" });
			},
			onRowGone: (id) => {
				this.#pool.remove(id);
				void this.#pool.reload().catch((error: unknown) => this.#logReloadFailure(error));
			},
		});
		const usage = () => this.#usage();
		this.#selector = new CredentialSelector({
			pool: this.#pool,
			blocks: this.#blocks,
			affinity: this.#affinity,
			registry: this.#registry,
			refresher: this.#refresher,
			usage,
			store,
			clock,
			logger,
			policies: this.#policies,
		});
		const configValueResolver =
			options.configValueResolver ??
			createConfigValueResolver({
				env: this.#env,
				allowCommands: options.allowCommandConfigValues === true,
				clock,
				logger,
			});
		this.#cascade = new KeyCascade({
			registry: this.#registry,
			env: this.#env,
			pool: this.#pool,
			selector: this.#selector,
			configValueResolver,
			storeLabel: options.sourceLabel ?? `${store.kind} store`,
		});
		this.#rotation = new CredentialRotation({
			pool: this.#pool,
			blocks: this.#blocks,
			affinity: this.#affinity,
			selector: this.#selector,
			registry: this.#registry,
			usage,
			store,
			clock,
			logger,
			configValueResolver,
		});
		this.#resets = new ResetCredits({
			pool: this.#pool,
			registry: this.#registry,
			rotation: this.#rotation,
			selector: this.#selector,
			blocks: this.#blocks,
			usage,
			pluginContext: (signal) => this.#pluginContext(signal),
			...(options.pluginTimeoutMs !== undefined ? { timeoutMs: options.pluginTimeoutMs } : {}),
		});
	}

	#usage(): UsageService {
		this.#usageService ??= new UsageService({
			store: this.#store,
			registry: this.#registry,
			fetch: this.#fetch,
			clock: this.#clock,
			logger: this.#logger,
			env: this.#env,
			random: this.#random,
			...(this.#usageRequestTimeoutMs !== undefined ? { requestTimeoutMs: this.#usageRequestTimeoutMs } : {}),
		});
		return this.#usageService;
	}

	#onRowDisabled(row: StoredAuthCredential, cause: string): void {
		this.#pool.remove(row.id);
		this.#emitDisabled(row, cause);
	}

	#emitDisabled(row: StoredAuthCredential, cause: string): void {
		const event: CredentialDisabledEvent = {
			type: "credential_disabled",
			provider: row.provider,
			credentialId: row.id,
			disabledCause: cause,
			credentialType: row.credential.type,
			at: this.#clock.now(),
		};
		if (row.credential.type === "oauth") {
			const identity = oauthIdentity(row.credential);
			if (identity.email) event.email = identity.email;
			if (identity.accountId) event.accountId = identity.accountId;
			const text = (value: unknown) => (typeof value === "string" && value !== "" ? value.slice(0, 256) : undefined);
			const orgId = text(row.credential.orgId) ?? text(row.credential.organizationId);
			const orgName = text(row.credential.orgName) ?? text(row.credential.organizationName);
			if (orgId) event.orgId = orgId;
			if (orgName) event.orgName = orgName;
		}
		this.#events.emit(event);
	}

	#logReloadFailure(error: unknown): void {
		this.#logger.warn("credential reload failed", { error: redactString(errorMessage(error)) });
	}

	#pluginContext(signal?: AbortSignal): PluginContext {
		return {
			fetch: this.#fetch,
			clock: this.#clock,
			logger: this.#logger,
			env: this.#env,
			signal: signal ?? NEVER_ABORTED,
		};
	}

	#overridden(provider: string): boolean {
		return Boolean(this.#cascade.runtime.get(provider) || this.#cascade.config.get(provider));
	}

	// ── lifecycle ────────────────────────────────────────────────────────────

	/** Load (or re-load) the credential snapshot and blocks from the store. */
	async reload(): Promise<void> {
		await this.#pool.reload();
	}

	/**
	 * One O(1) change check; re-read rows and blocks only when another process or instance changed
	 * them (a broker polls this to wake its clients). Every request does the same check itself.
	 */
	async pollChanges(): Promise<void> {
		await this.#pool.sync();
	}

	/**
	 * Close the pool, then the store. Idempotent. A token request already sent is waited for first (at most
	 * `drainTimeoutMs`, default the refresh hard cap), so a rotation answered during shutdown is stored
	 * instead of dying with the process; refreshes not started yet are not started.
	 */
	async close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
		if (this.#closed) return;
		this.#closed = true;
		await this.#affinity.flush();
		await this.#refresher.close(options);
		await this.#store.close();
	}

	/** Counter bumped on every change of the loaded credential set. */
	getGeneration(): number {
		return this.#generation.value;
	}

	/** Subscribe to generation changes; returns unsubscribe. */
	onGenerationChanged(listener: GenerationListener): () => void {
		checkArg("listener", arg.listener, listener);
		return this.#generation.subscribe(listener);
	}

	/**
	 * Subscribe to `credential_disabled` events (automatic disables). Events raised while nobody
	 * listened (up to 32) are replayed once to the first subscriber. Returns unsubscribe.
	 */
	onCredentialDisabled(listener: CredentialDisabledListener): () => void {
		checkArg("listener", arg.listener, listener);
		return this.#events.subscribe(listener);
	}

	// ── overrides ────────────────────────────────────────────────────────────

	/** Highest-precedence key for a provider (e.g. a CLI `--api-key`); not persisted. */
	setRuntimeApiKey(provider: string, apiKey: string): void {
		checkProvider(provider);
		checkArg("apiKey", arg.apiKey, apiKey);
		this.#cascade.runtime.set(provider, apiKey);
	}

	removeRuntimeApiKey(provider: string): void {
		checkProvider(provider);
		this.#cascade.runtime.delete(provider);
	}

	/** Config-file key for a provider (resolved through `configValueResolver`); beats stored credentials. */
	setConfigApiKey(provider: string, apiKey: string): void {
		checkProvider(provider);
		checkArg("apiKey", arg.apiKey, apiKey);
		this.#cascade.config.set(provider, apiKey);
	}

	removeConfigApiKey(provider: string): void {
		checkProvider(provider);
		this.#cascade.config.delete(provider);
	}

	/** Drop every config override. */
	clearConfigApiKeys(): void {
		this.#cascade.config.clear();
	}

	/** Last-resort key source. */
	setFallbackResolver(resolver: ((provider: string) => string | undefined) | undefined): void {
		checkArg("resolver", arg.fallback, resolver, true);
		this.#cascade.fallback = resolver;
	}

	// ── keys ─────────────────────────────────────────────────────────────────

	/**
	 * The key for a request: runtime → config → stored OAuth (refreshed) → env var → stored API key →
	 * fallback. With a session the same row keeps serving it. Once warm, a fresh pinned token costs one
	 * change check and no store write.
	 * @throws AbortedError when `options.signal` aborts (only this caller).
	 */
	getApiKey(provider: string, sessionId?: string, options?: SelectionOptions): Promise<string | undefined> {
		return checked(
			() => this.#checkSelection(provider, sessionId, options),
			() => this.#cascade.getApiKey(provider, sessionId, options),
		);
	}

	#checkSelection(provider: unknown, sessionId: unknown, options: unknown): void {
		checkProvider(provider);
		checkSession(sessionId);
		checkSelectionOptions(options);
	}

	/** A best-effort key without refreshing or recording anything. */
	peekApiKey(provider: string): Promise<string | undefined> {
		return checked(
			() => checkProvider(provider),
			() => this.#cascade.peekApiKey(provider, this.#clock.now()),
		);
	}

	/** The selected OAuth row's fresh access token with identity fields (no overrides). */
	async getOAuthAccess(
		provider: string,
		sessionId?: string,
		options?: SelectionOptions,
	): Promise<OAuthAccess | undefined> {
		this.#checkSelection(provider, sessionId, options);
		if (this.#overridden(provider)) return undefined;
		await this.#pool.sync();
		const selected = await this.#selector.resolveOAuth(provider, sessionId, options);
		if (!selected) return undefined;
		return this.#access(selected.row.id, selected.credential);
	}

	#access(id: number, credential: OAuthCredential): OAuthAccess {
		const access: OAuthAccess = { accessToken: credential.access, credentialId: id };
		if (credential.accountId) access.accountId = credential.accountId;
		if (credential.email) access.email = credential.email;
		if (credential.projectId) access.projectId = credential.projectId;
		if (credential.enterpriseUrl) access.enterpriseUrl = credential.enterpriseUrl;
		if (credential.apiEndpoint) access.apiEndpoint = credential.apiEndpoint;
		return access;
	}

	async #resolveAccess(row: StoredAuthCredential, options?: SelectionOptions): Promise<OAuthAccessResolution> {
		const credential = row.credential as OAuthCredential;
		try {
			const fresh = await this.#selector.freshRow(row, options);
			return { ok: true, ...this.#access(fresh.id, fresh.credential as OAuthCredential) };
		} catch (error) {
			const { accessToken: _omit, ...identity } = this.#access(row.id, credential);
			return { ok: false, ...identity, error: redactString(errorMessage(error)) };
		}
	}

	/** Every stored OAuth account of a provider, each refreshed independently (no ranking). */
	async getOAuthAccesses(provider: string, options?: SelectionOptions): Promise<OAuthAccessResolution[]> {
		this.#checkSelection(provider, undefined, options);
		if (this.#overridden(provider)) return [];
		await this.#pool.sync();
		return Promise.all(this.#pool.rows(provider, "oauth").map((row) => this.#resolveAccess(row, options)));
	}

	/** One stored OAuth account by position (see `listOAuthAccounts`); only that account is refreshed. */
	async getOAuthAccessAt(
		provider: string,
		position: number,
		options?: SelectionOptions,
	): Promise<OAuthAccessResolution | undefined> {
		this.#checkSelection(provider, undefined, options);
		checkArg("position", arg.position, position);
		if (this.#overridden(provider)) return undefined;
		await this.#pool.sync();
		const row = this.#pool.rows(provider, "oauth")[position];
		return row ? this.#resolveAccess(row, options) : undefined;
	}

	/** Stored OAuth accounts in stable order, without refreshing anything. */
	listOAuthAccounts(provider: string): OAuthAccountSummary[] {
		checkProvider(provider);
		if (this.#overridden(provider)) return [];
		const rows = this.#pool.rows(provider, "oauth");
		const view = this.#policies.resolve(provider, `${provider}\0oauth\0listed`, rows);
		return rows.map((row, position) => {
			const credential = row.credential as OAuthCredential;
			const summary: OAuthAccountSummary = { position, credentialId: row.id };
			const priority = view.ranks.get(row.id);
			if (priority !== undefined) summary.priority = priority;
			if (credential.accountId) summary.accountId = credential.accountId;
			if (credential.email) summary.email = credential.email;
			if (credential.projectId) summary.projectId = credential.projectId;
			if (credential.enterpriseUrl) summary.enterpriseUrl = credential.enterpriseUrl;
			return summary;
		});
	}

	// ── credential management ───────────────────────────────────────────────

	/** Replace a provider's stored credentials (duplicates of one OAuth account collapse to the last). */
	async set(provider: string, credential: AuthCredential | AuthCredential[]): Promise<void> {
		checkProvider(provider);
		const list = Array.isArray(credential)
			? credential.map((item, i) => checkCredential(`credential[${i}]`, item))
			: [checkCredential("credential", credential)];
		const seen = new Set<string>();
		const deduped: AuthCredential[] = [];
		for (let i = list.length - 1; i >= 0; i -= 1) {
			const item = list[i]!;
			const identity = item.type === "oauth" ? credentialIdentityKey(provider, item) : null;
			if (identity) {
				if (seen.has(identity)) continue;
				seen.add(identity);
			}
			deduped.push(item);
		}
		deduped.reverse();
		const rows = await this.#store.rows.replaceProvider(provider, deduped);
		this.#pool.replaceProvider(provider, rows);
		this.#selector.resetProvider(provider);
		// A lifecycle replacement leaves no tombstone: the rows it replaced are hard-deleted.
		await this.#purge({ provider, causes: [REPLACED_BY_NEWER] });
	}

	/** Hard-delete tombstones (when the store can); failures are logged, never thrown. */
	async #purge(filter: DisabledPurgeFilter): Promise<void> {
		const purge = this.#store.rows.purgeDisabled;
		if (!purge) return;
		try {
			await purge.call(this.#store.rows, filter);
		} catch (error) {
			this.#logger.warn("could not prune tombstones", { error: redactString(errorMessage(error)) });
		}
	}

	/** Prune tombstones past their retention (of one provider, or all). */
	#pruneExpiredTombstones(provider?: string): Promise<void> {
		// Retention ends at disable + retention: a tombstone exactly that old is gone.
		const cut = this.#clock.now() - this.#tombstoneRetentionMs + 1;
		return this.#purge(provider === undefined ? { disabledBefore: cut } : { provider, disabledBefore: cut });
	}

	/**
	 * Tombstones (disabled rows) still within their retention, ascending id; older ones are pruned first.
	 * No secrets: identity fields only.
	 */
	async listDisabledCredentials(provider?: string): Promise<DisabledCredentialSummary[]> {
		if (provider !== undefined) checkProvider(provider);
		await this.#pruneExpiredTombstones(provider);
		const cut = this.#clock.now() - this.#tombstoneRetentionMs + 1;
		const rows = await this.#store.rows.listDisabled(provider);
		const out: DisabledCredentialSummary[] = [];
		for (const row of rows) {
			// A store without `purgeDisabled` keeps old tombstones; they are still not reported.
			if (row.disabledAt !== null && row.disabledAt < cut) continue;
			const summary: DisabledCredentialSummary = {
				credentialId: row.id,
				provider: row.provider,
				credentialType: row.credential.type,
				disabledCause: row.disabledCause ?? "",
				disabledAt: row.disabledAt,
			};
			if (row.credential.type === "oauth") {
				const identity = oauthIdentity(row.credential);
				if (identity.email) summary.email = identity.email;
				if (identity.accountId) summary.accountId = identity.accountId;
			}
			out.push(summary);
		}
		return out;
	}

	/** Soft-delete every credential of a provider ("deleted by user"). */
	async remove(provider: string): Promise<void> {
		checkProvider(provider);
		await this.#store.rows.disableProvider(provider, DISABLED_BY_USER);
		this.#pool.replaceProvider(provider, []);
		this.#selector.resetProvider(provider);
	}

	/** Soft-delete one credential of a provider; `false` when it is not loaded. */
	async removeCredential(provider: string, credentialId: number): Promise<boolean> {
		checkProvider(provider);
		checkArg("credentialId", arg.credentialId, credentialId);
		const row = this.#pool.get(credentialId);
		if (!row || row.provider !== provider) return false;
		const disabled = await this.#store.rows.disable(credentialId, DISABLED_BY_USER);
		this.#pool.remove(credentialId);
		this.#selector.resetProvider(provider);
		// A deliberate removal supersedes earlier automatic tombstones of this identity (and only of it).
		const identityKey = row.identityKey ?? credentialIdentityKey(provider, row.credential);
		if (disabled && identityKey) await this.#purge({ provider, identityKey, exceptIds: [credentialId] });
		return disabled;
	}

	/**
	 * Run the provider's interactive login and store the result (an OAuth account is upserted by
	 * identity; a string result is stored as an API key; an empty string stores nothing).
	 * @throws AuthpoolError `OAUTH_NOT_SUPPORTED` when the plugin has no login flow.
	 */
	async login(provider: string, callbacks: OAuthLoginCallbacks & { signal?: AbortSignal }): Promise<void> {
		checkProvider(provider);
		checkArg("callbacks", arg.loginCallbacks, callbacks);
		const login = this.#registry.get(provider)?.oauth?.login;
		if (!login) throw new AuthpoolError("OAUTH_NOT_SUPPORTED", `No login flow for provider ${provider}`);
		// Interactive, so no default deadline; but a caller's abort ends the wait even if the plugin ignores it.
		const result = await raceSignal(
			Promise.resolve().then(() => login(callbacks, this.#pluginContext(callbacks.signal))),
			callbacks.signal,
			"login aborted by caller",
		);
		if (typeof result === "string") {
			if (!result) return;
			await this.upsertCredential(provider, { type: "api_key", key: result });
			return;
		}
		await this.upsertCredential(provider, { ...result, type: "oauth" } as OAuthCredential);
	}

	/**
	 * Log the provider out: every credential removed as in `remove`, then that provider's whole history
	 * (its tombstones) cleared; other providers' tombstones are untouched.
	 */
	async logout(provider: string): Promise<void> {
		checkProvider(provider);
		await this.remove(provider);
		await this.#purge({ provider });
	}

	/** First loaded credential of a provider. */
	get(provider: string): AuthCredential | undefined {
		checkProvider(provider);
		return this.#pool.rows(provider)[0]?.credential;
	}

	/** Every loaded credential: one per provider, or an array when there are several. */
	getAll(): Record<string, AuthCredential | AuthCredential[]> {
		// Null prototype: a provider named `__proto__` stays a plain key, never the result's prototype.
		const out = Object.create(null) as Record<string, AuthCredential | AuthCredential[]>;
		for (const provider of this.#pool.providers()) {
			const credentials = this.#pool.rows(provider).map((row) => row.credential);
			if (credentials.length === 1) out[provider] = credentials[0]!;
			else if (credentials.length > 1) out[provider] = credentials;
		}
		return out;
	}

	/** Providers with stored credentials. */
	list(): string[] {
		return this.#pool.providers();
	}

	/** Stored credentials exist for the provider. */
	has(provider: string): boolean {
		checkProvider(provider);
		return this.#pool.rows(provider).length > 0;
	}

	/** Any auth source (override, stored, env, fallback), without refreshing. */
	hasAuth(provider: string): boolean {
		checkProvider(provider);
		return this.#cascade.hasAuth(provider);
	}

	/** Any auth source except an environment variable. */
	hasNonEnvCredential(provider: string): boolean {
		checkProvider(provider);
		return this.#cascade.hasNonEnvCredential(provider);
	}

	hasOAuth(provider: string): boolean {
		checkProvider(provider);
		return this.#pool.rows(provider, "oauth").length > 0;
	}

	/** Which cascade leg supplies the provider's key (same order as `getApiKey`, no side effects). */
	getCredentialOrigin(provider: string): CredentialOrigin | undefined {
		checkProvider(provider);
		return this.#cascade.origin(provider);
	}

	/** Human-readable source of the provider's key (informational). */
	describeCredentialSource(provider: string, sessionId?: string): string | undefined {
		checkProvider(provider);
		checkSession(sessionId);
		return this.#cascade.describe(provider, sessionId);
	}

	/** Loaded active rows (of one provider or all), ascending id. */
	listStoredCredentials(provider?: string): StoredAuthCredential[] {
		if (provider !== undefined) checkProvider(provider);
		return provider === undefined ? this.#pool.allRows() : [...this.#pool.rows(provider)];
	}

	// ── limits and rotation ─────────────────────────────────────────────────

	/**
	 * The session's row hit a usage limit: block it until the later of retry-after (default 60 s) and
	 * the reset of an exhausted limit in a fresh usage report (scoped by the provider's block scope).
	 */
	markUsageLimitReached(
		provider: string,
		sessionId: string | undefined,
		options?: MarkUsageLimitOptions,
	): Promise<UsageLimitMarkResult> {
		return checked(
			() => {
				checkProvider(provider);
				checkSession(sessionId);
				checkArg("options", arg.markUsageLimit, options, true);
			},
			() => this.#rotation.markUsageLimitReached(provider, sessionId, options),
		);
	}

	/** Move the session off its row after a retryable error; `true` when another row is usable now. */
	rotateSessionCredential(
		provider: string,
		sessionId: string | undefined,
		options?: RotateSessionOptions,
	): Promise<boolean> {
		return checked(
			() => {
				checkProvider(provider);
				checkSession(sessionId);
				checkArg("options", arg.rotate, options, true);
			},
			() => this.#rotation.rotateSessionCredential(provider, sessionId, options),
		);
	}

	/** Block (60 s) and mark suspect the row that produced `apiKey`; `false` when none matches. */
	invalidateCredentialMatching(
		provider: string,
		apiKey: string,
		options?: InvalidateCredentialMatchingOptions | AbortSignal,
	): Promise<boolean> {
		return checked(
			() => {
				checkProvider(provider);
				checkArg("apiKey", arg.apiKey, apiKey);
				checkArg("options", arg.invalidate, options, true);
			},
			() => {
				const normalized = options instanceof AbortSignal ? { signal: options } : options;
				return this.#rotation.invalidateCredentialMatching(provider, apiKey, normalized);
			},
		);
	}

	/** The retry policy: resolve → force-refresh the same row → rotate to a sibling. */
	resolver(provider: string, options?: { sessionId?: string; modelId?: string; baseUrl?: string }): ApiKeyResolver {
		checkProvider(provider);
		checkArg("options", arg.resolver, options, true);
		return createApiKeyResolver(this, provider, options);
	}

	/**
	 * Run `request` with the pool's keys and the retry policy: 401 → the same row force-refreshed, then a
	 * sibling; 403 → a sibling without a refresh (a concurrency cap is returned); a usage limit or
	 * `insufficient_quota` → the row blocked until its reset and a sibling; a generic 429, 5xx, network
	 * or other error → rethrown to the caller. A key is never tried twice; `signal` stops the loop; at most
	 * `maxAttempts` (default 4, hard cap 16) requests.
	 * @throws the request's last error; AuthpoolError `NO_CREDENTIAL` (no key at all), `ABORTED`,
	 *   `NO_ELIGIBLE_CREDENTIAL`.
	 */
	withAuth<T>(
		provider: string,
		request: (key: string, attempt: number) => Promise<T> | T,
		options?: WithAuthOptions,
	): Promise<T> {
		return checked(
			() => {
				checkProvider(provider);
				checkArg("request", arg.request, request);
				checkArg("options", arg.withAuth, options, true);
			},
			() =>
				runWithAuth(
					{
						getApiKey: (p, sessionId, selection) => this.#cascade.getApiKey(p, sessionId, selection),
						refreshKey: (p, key, signal) => this.#refreshKey(p, key, signal),
						markUsageLimitReached: (p, sessionId, opts) => this.#rotation.markUsageLimitReached(p, sessionId, opts),
						rotateSessionCredential: (p, sessionId, opts) => this.#rotation.rotateSessionCredential(p, sessionId, opts),
					},
					provider,
					request,
					options,
				),
		);
	}

	/** Force-refresh the OAuth row `key` came from; its new key (`undefined` for API keys). */
	async #refreshKey(provider: string, key: string, signal: AbortSignal | undefined): Promise<string | undefined> {
		await this.#pool.sync();
		const row = await this.#rotation.rowMatching(provider, key);
		if (row?.credential.type !== "oauth") return undefined;
		const fresh = await this.#selector.freshRow(row, { forceRefresh: true, rejectedKey: key, signal });
		return this.#selector.apiKeyOf(fresh);
	}

	/**
	 * Move a session to the next stored API key (in the provider's order, skipping blocked and
	 * ineligible keys) and return it; `undefined` with fewer than two usable keys. An explicit pin of
	 * the session is replaced by the new automatic pin.
	 */
	cycleStoredApiKey(provider: string, sessionId: string): Promise<string | undefined> {
		return checked(
			() => {
				checkProvider(provider);
				checkArg("sessionId", arg.requiredSessionId, sessionId);
			},
			async () => {
				await this.#pool.sync();
				const row = await this.#selector.cycleApiKey(provider, sessionId);
				if (row?.credential.type !== "api_key") return undefined;
				return this.#cascade.resolveStoredKey(row.credential.key);
			},
		);
	}

	// ── policies ────────────────────────────────────────────────────────────

	/** The provider's effective policy: mode, reserve/reclaim lines, stored priority selectors. */
	getAccountPolicy(provider: string): AccountPolicy {
		checkProvider(provider);
		return this.#policies.describe(provider);
	}

	/**
	 * Change a provider's selection mode live (this instance). `balanced`: the best-ranked eligible
	 * account, near-ties spread by session; `fixed`: the first eligible account in priority order.
	 * @throws AuthpoolError `INVALID_INPUT`
	 */
	setAccountSelection(provider: string, mode: AccountSelectionMode): void {
		checkProvider(provider);
		checkArg("mode", arg.accountSelection, mode);
		this.#policies.setMode(provider, mode);
	}

	/**
	 * Change a provider's reserve and reclaim lines live (this instance). Omitted `reclaimAbovePct`
	 * turns reclaim off.
	 * @throws AuthpoolError `INVALID_INPUT` (outside 0–100, reclaim not above reserve, reclaim without a usage provider)
	 */
	setAccountReserve(provider: string, options: { reservePct?: number; reclaimAbovePct?: number }): void {
		checkProvider(provider);
		checkArg("options", arg.accountReserve, options);
		this.#policies.setReserve(provider, options);
	}

	/**
	 * Set the provider's account priority (first = 1): each selector is a row id, an account id or an
	 * email (case-insensitive). Stored, so every instance on the store and every restart uses it; an
	 * empty list clears it. Strict priority beats usage headroom.
	 * @throws AuthpoolError `INVALID_INPUT`; `NOT_FOUND` when a selector names no active row of the provider.
	 */
	setAccountPriority(provider: string, selectors: ReadonlyArray<number | string>): Promise<void> {
		return checked(
			() => {
				checkProvider(provider);
				checkArg("selectors", arg.accountPriority, selectors);
			},
			async () => {
				await this.#pool.sync();
				const rows = this.#pool.rows(provider);
				for (const selector of selectors) {
					if (!rows.some((row) => selectorMatches(selector, row))) {
						throw new AuthpoolError(
							"NOT_FOUND",
							`Account priority selector #${selectors.indexOf(selector) + 1} names no active ${provider} credential`,
						);
					}
				}
				const settings = { accountPriority: [...selectors] };
				if (this.#store.settings) await this.#store.settings.set(provider, settings);
				else {
					await this.#store.cache.set(
						providerSettingsCacheKey(provider),
						JSON.stringify(settings),
						this.#clock.now() + 100 * 365 * 86_400_000,
					);
				}
				this.#policies.setPriority(provider, settings.accountPriority);
			},
		);
	}

	/**
	 * Pin a session to one row explicitly: it wins over ranking, priority and reclaim, survives restarts
	 * (written through to the store) and, while the row is blocked, the session waits for it (fixed mode)
	 * or is served by another row until it frees (balanced mode); `getSessionPin` reports which.
	 * @throws AuthpoolError `NOT_FOUND` when the row is not an active row of the provider.
	 */
	pinSession(provider: string, sessionId: string, credentialId: number): Promise<void> {
		return checked(
			() => {
				checkProvider(provider);
				checkArg("sessionId", arg.requiredSessionId, sessionId);
				checkArg("credentialId", arg.credentialId, credentialId);
			},
			async () => {
				await this.#pool.sync();
				const row = this.#pool.get(credentialId);
				if (!row || row.provider !== provider) {
					throw new AuthpoolError("NOT_FOUND", `No active ${provider} credential with id ${credentialId}`);
				}
				await this.#affinity.setExplicit(provider, sessionId, { type: row.credential.type, credentialId });
			},
		);
	}

	/** Drop a session's pin (explicit or automatic); `true` when it had one. */
	unpinSession(provider: string, sessionId: string): Promise<boolean> {
		return checked(
			() => {
				checkProvider(provider);
				checkArg("sessionId", arg.requiredSessionId, sessionId);
			},
			() => this.#affinity.unpin(provider, sessionId),
		);
	}

	/** Where a session's pin stands (see `SessionPinStatus`); `undefined` without a pin. */
	getSessionPin(provider: string, sessionId: string): Promise<SessionPinStatus | undefined> {
		return checked(
			() => {
				checkProvider(provider);
				checkArg("sessionId", arg.requiredSessionId, sessionId);
			},
			async () => {
				await this.#pool.sync();
				const pin = await this.#affinity.get(provider, sessionId);
				if (!pin) return undefined;
				const status: SessionPinStatus = {
					credentialId: pin.credentialId,
					type: pin.type,
					explicit: pin.explicit === true,
					state: "active",
				};
				const until = this.#blocks.blockedUntil(pin.credentialId, providerTypeKey(provider, pin.type));
				if (until !== undefined) {
					status.blockedUntil = until;
					status.state = pin.explicit && this.#policies.mode(provider) === "fixed" ? "waiting" : "failed-over";
				}
				return status;
			},
		);
	}

	// ── usage ───────────────────────────────────────────────────────────────

	/** One usage report per account over every stored row (deduplicated). */
	async fetchUsageReports(options?: {
		baseUrlResolver?: (provider: string) => string | undefined;
		signal?: AbortSignal;
	}): Promise<UsageReport[]> {
		checkArg("options", arg.usageFetch, options, true);
		await this.#pool.sync();
		return this.#usage().fetchReports(this.#pool.allRows(), options);
	}

	/**
	 * Drop cached usage reports (of one provider, or of every provider), their last good values and
	 * failure cool-downs included, so the next read asks the providers. With a broker store, the
	 * broker's cache goes first (else a read in between could cache its stale answer again here).
	 * @throws the upstream's error (after the local cache is dropped) when the broker could not be told.
	 */
	async invalidateUsageCache(options?: { provider?: string; signal?: AbortSignal }): Promise<void> {
		checkArg("options", arg.usageInvalidate, options, true);
		const provider = options?.provider;
		let upstreamError: unknown;
		try {
			await this.#store.upstream?.invalidateUsageCache?.({
				...(provider !== undefined ? { provider } : {}),
				...(options?.signal ? { signal: options.signal } : {}),
			});
		} catch (error) {
			upstreamError = error;
		}
		const usage = this.#usage();
		if (provider === undefined) {
			await usage.invalidate();
		} else {
			await this.#pool.sync();
			for (const row of this.#pool.allRows()) if (row.provider === provider) await usage.invalidate(row);
		}
		if (upstreamError !== undefined) throw upstreamError;
	}

	async #observedRow(provider: string, sessionId?: string): Promise<StoredAuthCredential | undefined> {
		await this.#pool.sync();
		return (
			(await this.#rotation.currentRow(provider, sessionId)) ??
			this.#selector.peek(provider, "oauth", sessionId) ??
			this.#selector.peek(provider, "api_key", sessionId)
		);
	}

	/** Take rate-limit response headers into the cached report of the session's row. */
	async ingestUsageHeaders(
		provider: string,
		headers: Record<string, string>,
		options?: { sessionId?: string; baseUrl?: string },
	): Promise<boolean> {
		checkProvider(provider);
		checkArg("headers", arg.headers, headers);
		checkArg("options", arg.observe, options, true);
		const row = await this.#observedRow(provider, options?.sessionId);
		if (!row) return false;
		return this.#usage().ingestHeaders(row, headers, { baseUrl: options?.baseUrl });
	}

	/** Record a request's cost against the session's row (cost-derived providers). */
	async recordUsageCost(
		provider: string,
		costUsd: number,
		options?: { sessionId?: string; recordedAt?: number },
	): Promise<boolean> {
		checkProvider(provider);
		checkArg("costUsd", arg.costUsd, costUsd);
		checkArg("options", arg.observe, options, true);
		const row = await this.#observedRow(provider, options?.sessionId);
		if (!row) return false;
		return this.#usage().recordCost(row, costUsd, options?.recordedAt);
	}

	/**
	 * Record requests, tokens and cost this process observed (e.g. from the responses it proxied), as
	 * this install (`installId`, host name, `app`). A broker store sends them to the broker (batched);
	 * otherwise they go to the store's ledger in hourly buckets. `false` when there is nowhere to keep them.
	 */
	async recordObservedUsage(entries: ObservedUsageEntry | ObservedUsageEntry[]): Promise<boolean> {
		const report = checkArg("entries", clientUsageReportSchema, {
			installId: this.#installId,
			hostname: this.#hostname,
			...(this.#app !== undefined ? { app: this.#app } : {}),
			entries: Array.isArray(entries) ? entries : [entries],
		}) as ClientUsageReport;
		if (report.entries.length === 0) return true;
		const upstream = this.#store.upstream?.recordObservedUsage;
		if (upstream) {
			await upstream.call(this.#store.upstream, report);
			return true;
		}
		return this.recordClientUsageReport(report);
	}

	/**
	 * Record a report another install sent (the broker's `POST /v1/usage/observed`) into the ledger;
	 * `false` without a ledger that keeps client usage.
	 */
	async recordClientUsageReport(report: ClientUsageReport): Promise<boolean> {
		checkArg("report", clientUsageReportSchema, report);
		const ledger = this.#store.ledger;
		if (!ledger?.recordClientUsage) return false;
		await ledger.recordClientUsage(report);
		return true;
	}

	/** Client-observed usage per install, most recently seen first; `[]` without a ledger that keeps it. */
	async listClientUsage(query?: ClientUsageQuery): Promise<ClientUsageSummary[]> {
		checkArg("query", clientUsageQuerySchema, query, true);
		const ledger = this.#store.ledger;
		return ledger?.listClientUsage ? ledger.listClientUsage(query) : [];
	}

	/** Usage history (oldest first); `[]` without a ledger. */
	listUsageHistory(query?: UsageHistoryQuery): Promise<UsageHistoryEntry[]> {
		return checked(
			() => checkArg("query", arg.historyQuery, query, true),
			() => this.#usage().listHistory(query),
		);
	}

	/** Probe every stored row (refreshing expired OAuth first): ok true / false / null with a reason. */
	async checkCredentials(options?: CheckCredentialsOptions): Promise<CredentialHealthResult[]> {
		checkArg("options", arg.check, options, true);
		await this.#pool.sync();
		const rows = this.#pool.allRows().filter((row) => !options?.provider || row.provider === options.provider);
		return checkCredentials(
			rows,
			{
				usage: this.#usage(),
				registry: this.#registry,
				clock: this.#clock,
				ensureFresh: (row, signal) => this.#refresher.ensureFresh(row, { signal }),
			},
			options,
		);
	}

	/** Saved rate-limit resets of every OAuth account of a provider (live, via `plugin.resetCredits`). */
	listResetCredits(options?: Parameters<ResetCredits["list"]>[0]): Promise<ResetCreditAccountStatus[]> {
		return checked(
			() => checkArg("options", arg.resetList, options, true),
			() => this.#resets.list(options),
		);
	}

	/** Spend one saved reset for an account; success lifts that row's blocks and drops its cached usage. */
	redeemResetCredit(options: Parameters<ResetCredits["redeem"]>[0]): Promise<ResetCreditRedeemOutcome> {
		return checked(
			() => checkArg("options", arg.resetRedeem, options),
			() => this.#resets.redeem(options),
		);
	}

	// ── broker-side ─────────────────────────────────────────────────────────

	/** The loaded rows for the broker wire: refresh tokens replaced by `"__remote__"`, unexpired blocks. */
	exportSnapshot(): AuthCredentialSnapshot {
		return {
			generation: this.#generation.value,
			generatedAt: this.#clock.now(),
			credentials: this.#pool.allRows().map((row) => snapshotEntry(row, this.#blocks)),
		};
	}

	/**
	 * Force-refresh one OAuth row (single-flight with every other refresh of it); returns its redacted
	 * snapshot entry.
	 * @throws AuthpoolError `NOT_FOUND` (no such active row), `INVALID_INPUT` (not OAuth), or the refresh error.
	 */
	async refreshCredentialById(id: number, signal?: AbortSignal): Promise<AuthCredentialSnapshotEntry> {
		checkArg("id", arg.credentialId, id);
		checkArg("signal", arg.signal, signal, true);
		await this.#pool.sync();
		const row = this.#pool.get(id);
		if (!row) throw new AuthpoolError("NOT_FOUND", `No active credential with id ${id}`);
		if (row.credential.type !== "oauth") {
			throw new AuthpoolError("INVALID_INPUT", `Credential ${id} (${row.provider}) is not OAuth`);
		}
		const fresh = await this.#refresher.ensureFresh(row, { force: true, signal });
		return snapshotEntry(this.#pool.get(id) ?? fresh, this.#blocks);
	}

	/**
	 * Disable one row with a cause and emit `credential_disabled`; `false` when it is not active, or when
	 * `expectedVersion` is given and the row moved past it (compare-and-disable: a peer rotated it).
	 */
	async disableCredentialById(id: number, cause: string, options?: { expectedVersion?: number }): Promise<boolean> {
		checkArg("id", arg.credentialId, id);
		checkArg("cause", arg.cause, cause);
		if (options?.expectedVersion !== undefined) checkArg("expectedVersion", arg.credentialId, options.expectedVersion);
		const row = this.#pool.get(id) ?? (await this.#store.rows.get(id)) ?? undefined;
		const disabled =
			options?.expectedVersion === undefined
				? await this.#store.rows.disable(id, cause)
				: (await this.#store.rows.compareAndDisable(id, options.expectedVersion, cause)).ok;
		if (!disabled || !row) return false;
		this.#pool.remove(id);
		this.#emitDisabled(row, cause);
		return true;
	}

	/**
	 * Block one active row until `blockedUntil` (max-merged: never shortens a block, capped like every
	 * block). Returns the effective deadline, or `null` when the row is not active.
	 */
	async blockCredentialById(
		id: number,
		block: { providerKey: string; scope?: string; blockedUntil: number },
	): Promise<number | null> {
		checkArg("id", arg.credentialId, id);
		checkArg("block", arg.blockById, block);
		await this.#pool.sync();
		if (!this.#pool.get(id)) return null;
		return this.#blocks.block(id, block.providerKey, block.blockedUntil, {
			scope: block.scope ?? "",
			kind: "retry-after",
		});
	}

	/** Lift every block of one active row; `false` when the row is not active. */
	async unblockCredentialById(id: number): Promise<boolean> {
		checkArg("id", arg.credentialId, id);
		await this.#pool.sync();
		if (!this.#pool.get(id)) return false;
		await this.#blocks.clear(id);
		return true;
	}

	/**
	 * Insert only while the provider has no active credential (of any type): seeding a provider from
	 * several processes or hosts at once leaves exactly one row. `inserted: false` means a row was
	 * already there (or a concurrent caller won); `entries` are the provider's redacted rows after the call.
	 * @throws AuthpoolError `STORE_ERROR` when the store is shared across instances but cannot insert
	 *   conditionally (no `rows.insertIfProviderAbsent`).
	 */
	async insertCredentialIfProviderAbsent(
		provider: string,
		credential: AuthCredential,
	): Promise<{ inserted: boolean; entries: AuthCredentialSnapshotEntry[] }> {
		checkProvider(provider);
		const snapshot = checkCredential("credential", credential);
		const rows = this.#store.rows;
		let row: StoredAuthCredential | null;
		if (rows.insertIfProviderAbsent) {
			row = await rows.insertIfProviderAbsent(provider, snapshot);
		} else if (!this.#store.capabilities.sharedAcrossInstances) {
			// Only this process writes the store: one check-then-insert at a time is enough.
			row = await this.#serialConditionalInsert(async () =>
				(await rows.listActive(provider)).length > 0 ? null : rows.insert(provider, snapshot),
			);
		} else {
			throw new AuthpoolError(
				"STORE_ERROR",
				`the ${this.#store.kind} store cannot insert conditionally (it has no rows.insertIfProviderAbsent)`,
			);
		}
		if (row) {
			this.#pool.upsert(row);
			this.#selector.resetProvider(provider);
		} else {
			await this.#pool.sync();
		}
		return {
			inserted: row !== null,
			entries: this.#pool.rows(provider).map((entry) => snapshotEntry(entry, this.#blocks)),
		};
	}

	#serialConditionalInsert<T>(task: () => Promise<T>): Promise<T> {
		const run = this.#conditionalInserts.then(task, task);
		this.#conditionalInserts = run.catch(() => {});
		return run;
	}

	/** Upsert by identity (same account → same row); returns the provider's redacted entries. */
	async upsertCredential(provider: string, credential: AuthCredential): Promise<AuthCredentialSnapshotEntry[]> {
		checkProvider(provider);
		const snapshot = checkCredential("credential", credential);
		await this.#pruneExpiredTombstones(provider);
		const { row } = await this.#store.rows.upsertByIdentity(provider, snapshot);
		this.#pool.upsert(row);
		this.#selector.resetProvider(provider);
		return this.#pool.rows(provider).map((entry) => snapshotEntry(entry, this.#blocks));
	}
}
