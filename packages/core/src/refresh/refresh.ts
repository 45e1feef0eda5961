/**
 * The OAuth refresher (docs/refresh-protocol.md): single-flight per row id
 * in-process, one refresher per row across processes via the store's lease, adoption of a token a peer
 * already rotated, compare-and-set persistence before a token is handed out, and a careful split between
 * definitive failures (disable by CAS, never after a peer rotation) and transient ones (back off, never
 * disable, never retry the same refresh token early).
 */

import { AbortedError, AuthpoolError, OAuthRefreshError } from "../errors";
import type { OAuthRefreshResult, PluginContext, ProviderRegistry } from "../plugin";
import type { AuthCredentialStore } from "../store/store";
import {
	type Clock,
	type Env,
	type FetchLike,
	type Logger,
	type OAuthCredential,
	REMOTE_REFRESH_SENTINEL,
	type StoredAuthCredential,
} from "../types";
import { raceSignal, sleep, withTimeout } from "../util/abort";
import { fingerprint } from "../util/hash";
import { credentialSecrets, redact, redactString } from "../util/redact";
import { errorMessage, errorStatus, isDefinitiveRefreshFailure } from "./classify";
import { leaseOwnerAlive } from "./lease-owner";

/** Default upstream bound for one refresh call. */
export const DEFAULT_REFRESH_TIMEOUT_MS = 10_000;
/** Refresh when `now + skew >= expires`. */
export const DEFAULT_REFRESH_SKEW_MS = 60_000;
/** Cross-process refresh lease lifetime; renewed every third of it while the upstream call runs. */
export const DEFAULT_REFRESH_LEASE_TTL_MS = 15_000;
/** How long a transient refresh failure backs the row (and that refresh token) off. */
export const DEFAULT_TRANSIENT_BACKOFF_MS = 300_000;
/**
 * A token request once sent is never abandoned before this: the caller stops waiting after the refresh
 * timeout, but the request runs on (its lease renewed) and its answer is persisted whenever it comes.
 */
export const DEFAULT_REFRESH_HARD_CAP_MS = 120_000;
/** While the access token is still valid, a transient failure backs off this long at least... */
const MIN_VALID_BACKOFF_MS = 1_000;
/** ...and retries within half of the token's remaining life, so it is refreshed before it expires. */
const UNPERSISTED_RETRY_MIN_MS = 250;
const UNPERSISTED_RETRY_MAX_MS = 30_000;
/** Cache key recording a refresh whose outcome stayed unknown past the hard cap (value: token fingerprint). */
const unknownOutcomeKey = (id: number) => `authpool:refresh-outcome-unknown:${id}`;
const UNKNOWN_OUTCOME_TTL_MS = 30 * 24 * 3_600_000;

const LEASE_POLL_MIN_MS = 50;
const LEASE_POLL_MAX_MS = 250;
/** A refresh may restart once with a peer's newer row (lost CAS, or a failure after a peer rotation). */
const MAX_ATTEMPTS = 2;

export interface OAuthRefresherOptions {
	store: AuthCredentialStore;
	registry: ProviderRegistry;
	fetch: FetchLike;
	clock: Clock;
	logger: Logger;
	env: Env;
	/** Lease owner id, unique per process/instance. */
	owner: string;
	/**
	 * Upstream bound for one refresh call; a timeout is a transient failure.
	 * @default 10_000
	 */
	timeoutMs?: number;
	/**
	 * Refresh when `now + skewMs >= expires`.
	 * @default 60_000
	 */
	skewMs?: number;
	/**
	 * Lease lifetime; renewed every `leaseTtlMs / 3` while the upstream call runs.
	 * @default 15_000
	 */
	leaseTtlMs?: number;
	/**
	 * Back-off after a transient failure (the pool blocks the row; the same refresh token is not retried).
	 * @default 300_000
	 */
	transientBackoffMs?: number;
	/**
	 * Hard cap of one token request: it is aborted (and its unknown outcome recorded) only past this.
	 * @default 120_000
	 */
	hardCapMs?: number;
	/**
	 * Called whenever a newer view of a row is known: adopted from a peer, persisted by us, returned by a
	 * remote authority, or a rotation we hold but could not persist yet (same version, newer credential).
	 */
	onRowUpdated(row: StoredAuthCredential): void;
	/** Called once when WE disabled a row after a definitive failure (the pool emits credential_disabled). */
	onRowDisabled(row: StoredAuthCredential, cause: string, error: unknown): void;
	/** Called after a transient failure: the pool blocks the row until `until`. */
	onTransientFailure(row: StoredAuthCredential, until: number, error: unknown): void;
	/** Called when the row vanished/was disabled by someone else (pool should reload). */
	onRowGone?(id: number): void;
}

interface TransientFailure {
	/** Fingerprint of the refresh token that failed (never the token itself). */
	refreshFingerprint: string;
	until: number;
	error: OAuthRefreshError;
}

type UpstreamCall = (credential: OAuthCredential, signal: AbortSignal) => Promise<OAuthRefreshResult>;

function asOAuth(row: StoredAuthCredential): OAuthCredential | undefined {
	return row.credential.type === "oauth" ? row.credential : undefined;
}

function isActive(row: StoredAuthCredential | null): row is StoredAuthCredential {
	return row !== null && row.disabledCause === null;
}

/**
 * Merge a refresh result into the previous credential: unknown extension fields and identity fields the
 * result lacks are kept, and `refresh` falls back to the old token when the provider did not rotate it.
 * @throws {OAuthRefreshError} (transient) when the result has no usable access token or expiry.
 */
export function mergeOAuthRefreshResult(
	provider: string,
	previous: OAuthCredential,
	result: OAuthRefreshResult,
): OAuthCredential {
	if (
		typeof result?.access !== "string" ||
		result.access === "" ||
		typeof result.expires !== "number" ||
		!Number.isFinite(result.expires)
	) {
		throw new OAuthRefreshError(`${provider} token refresh failed: result has no access token or expiry`, {
			provider,
			definitive: false,
		});
	}
	const merged: OAuthCredential = { ...previous };
	for (const [field, value] of Object.entries(result)) {
		// An empty/absent field in the result means "unknown", not "cleared".
		if (value === undefined || value === null || value === "") continue;
		merged[field] = value;
	}
	merged.type = "oauth";
	merged.refresh = typeof result.refresh === "string" && result.refresh !== "" ? result.refresh : previous.refresh;
	return merged;
}

/**
 * Keeps OAuth access tokens fresh without ever burning a rotating refresh token. One instance per
 * pool; `owner` distinguishes instances that share a store.
 */
export class OAuthRefresher {
	readonly #options: OAuthRefresherOptions;
	readonly #timeoutMs: number;
	readonly #skewMs: number;
	readonly #leaseTtlMs: number;
	readonly #transientBackoffMs: number;
	readonly #hardCapMs: number;
	readonly #flights = new Map<number, Promise<StoredAuthCredential>>();
	/** `performance.now()` when each flight started: callers share one wait budget per flight. */
	readonly #flightStarted = new Map<number, number>();
	readonly #transient = new Map<number, TransientFailure>();
	/**
	 * Rotations the provider handed us that are not in the store yet (the write failed, or the lease was
	 * lost). Served, retried, and used as the base of any later refresh: the consumed token is never sent again.
	 */
	readonly #unpersisted = new Map<
		number,
		{ row: StoredAuthCredential; credential: OAuthCredential; consumed: string }
	>();
	readonly #retryTimers = new Map<number, ReturnType<typeof setTimeout>>();
	/** Aborts token requests still unanswered when the drain on close gives up. */
	readonly #shutdown = new AbortController();
	#closing: Promise<void> | undefined;
	#closed = false;

	constructor(options: OAuthRefresherOptions) {
		this.#options = options;
		this.#timeoutMs = positive(options.timeoutMs, DEFAULT_REFRESH_TIMEOUT_MS, "timeoutMs");
		this.#skewMs = nonNegative(options.skewMs, DEFAULT_REFRESH_SKEW_MS, "skewMs");
		this.#leaseTtlMs = positive(options.leaseTtlMs, DEFAULT_REFRESH_LEASE_TTL_MS, "leaseTtlMs");
		// The lease must outlive the bounded upstream call even if renewals stall (a blocked event loop):
		// otherwise a peer takes the lease over mid-call and spends the same refresh token twice.
		if (this.#leaseTtlMs <= this.#timeoutMs) {
			throw new AuthpoolError(
				"INVALID_OPTIONS",
				`Invalid OAuth refresher options: leaseTtlMs (${this.#leaseTtlMs}) must be greater than timeoutMs (${this.#timeoutMs})`,
			);
		}
		this.#hardCapMs = Math.max(this.#timeoutMs, positive(options.hardCapMs, DEFAULT_REFRESH_HARD_CAP_MS, "hardCapMs"));
		this.#transientBackoffMs = nonNegative(
			options.transientBackoffMs,
			DEFAULT_TRANSIENT_BACKOFF_MS,
			"transientBackoffMs",
		);
	}

	/** In-flight refreshes (one per row id at most). */
	get inFlight(): number {
		return this.#flights.size;
	}

	/** `now + skew < expires`. */
	isFresh(credential: OAuthCredential): boolean {
		return this.#options.clock.now() + this.#skewMs < credential.expires;
	}

	/**
	 * Returns a row whose OAuth access token is fresh. A fresh row (not forced) is returned as is with no
	 * store I/O. Concurrent callers of one row id share one refresh; `force` joins an in-flight refresh.
	 * The caller's `signal` rejects only this caller: the shared refresh still completes and persists.
	 * @throws {OAuthRefreshError} definitive (the row was disabled) or transient (backing off).
	 * @throws {AuthpoolError} `NO_CREDENTIAL` (row gone), `OAUTH_NOT_SUPPORTED`, `TIMEOUT` (peer lease wait), `ABORTED`.
	 */
	async ensureFresh(
		row: StoredAuthCredential,
		options: {
			force?: boolean;
			signal?: AbortSignal;
			/**
			 * With `force`: tells whether a credential carries the token the provider rejected. A stored
			 * credential that does not (a peer refreshed meanwhile) is adopted instead of refreshing again.
			 */
			rejected?: (credential: OAuthCredential) => boolean;
		} = {},
	): Promise<StoredAuthCredential> {
		const credential = asOAuth(row);
		if (!credential) return row;
		const held = this.#unpersisted.get(row.id);
		if (held && !options.force && this.isFresh(held.credential)) return held.row;
		if (!options.force && this.isFresh(credential)) return row;
		if (options.signal?.aborted) throw new AbortedError(`refresh of ${describe(row)} aborted by caller`);
		let flight = this.#flights.get(row.id);
		if (!flight) {
			const started = this.#run(held?.row ?? row, options.force === true, options.rejected);
			flight = started;
			this.#flights.set(row.id, started);
			this.#flightStarted.set(row.id, performance.now());
			const done = () => {
				if (this.#flights.get(row.id) !== started) return;
				this.#flights.delete(row.id);
				this.#flightStarted.delete(row.id);
			};
			started.then(done, done);
		}
		return raceSignal(this.#boundedWait(flight, row), options.signal, `refresh of ${describe(row)} aborted by caller`);
	}

	/**
	 * The caller waits at most the refresh timeout; the flight itself runs on. Past the wait a caller whose
	 * access token is still valid gets it (a slow token endpoint must not take a working account away),
	 * otherwise a typed transient error.
	 */
	#boundedWait(flight: Promise<StoredAuthCredential>, row: StoredAuthCredential): Promise<StoredAuthCredential> {
		// Callers joining a long flight do not each wait the whole timeout again.
		const elapsed = performance.now() - (this.#flightStarted.get(row.id) ?? performance.now());
		const waitMs = Math.max(0, this.#timeoutMs - elapsed);
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				const latest = this.#unpersisted.get(row.id)?.row ?? row;
				const credential = asOAuth(latest);
				if (credential && this.#stillServable(credential)) {
					resolve(latest);
					return;
				}
				reject(
					new OAuthRefreshError(`${describe(row)} refresh still in flight after ${this.#timeoutMs} ms`, {
						provider: row.provider,
						credentialId: row.id,
						definitive: false,
					}),
				);
			}, waitMs);
			flight.then(
				(value) => {
					clearTimeout(timer);
					resolve(value);
				},
				(error: unknown) => {
					clearTimeout(timer);
					const credential = asOAuth(row);
					// A transient failure while the access token still works: keep serving it.
					if (
						credential &&
						!isDefinitiveRefreshFailure(error) &&
						!(AuthpoolError.isInstance(error) && error.code === "NO_CREDENTIAL") &&
						this.#stillServable(credential)
					) {
						resolve(this.#unpersisted.get(row.id)?.row ?? row);
						return;
					}
					reject(error);
				},
			);
		});
	}

	/**
	 * A token inside the refresh window that may still be handed out while its refresh waits or failed
	 * transiently: it has at least half the skew left, so a request started with it will not outlive it.
	 */
	#stillServable(credential: OAuthCredential): boolean {
		return credential.expires - this.#options.clock.now() >= this.#skewMs / 2;
	}

	/**
	 * Drain, then stop (the pool closes): wait for token requests already sent, so a rotation answered during
	 * shutdown is stored rather than lost with the process; then make one last attempt to store every
	 * rotation still kept in memory, and stop the background retries. A request still unanswered after
	 * `drainTimeoutMs` (default: the hard cap, the longest a request can run anyway) is aborted and its
	 * outcome recorded as unknown. Rotations that still could not be stored are logged (no secrets). Idempotent.
	 */
	close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
		this.#closing ??= this.#drain(nonNegative(options.drainTimeoutMs, this.#hardCapMs, "drainTimeoutMs"));
		return this.#closing;
	}

	async #drain(drainTimeoutMs: number): Promise<void> {
		const timer = setTimeout(
			() => this.#shutdown.abort(new AuthpoolError("ABORTED", "the pool closed before the token endpoint answered")),
			drainTimeoutMs,
		);
		try {
			while (this.#flights.size > 0) await Promise.allSettled([...this.#flights.values()]);
		} finally {
			clearTimeout(timer);
		}
		for (const timer of this.#retryTimers.values()) clearTimeout(timer);
		this.#retryTimers.clear();
		for (const id of [...this.#unpersisted.keys()])
			await this.#retryUnpersisted(id, undefined, UNPERSISTED_RETRY_MIN_MS);
		this.#closed = true;
		for (const timer of this.#retryTimers.values()) clearTimeout(timer);
		this.#retryTimers.clear();
		for (const [id, held] of this.#unpersisted) {
			this.#options.logger.error("closing with a rotated refresh token that could not be persisted", {
				provider: held.row.provider,
				credentialId: id,
			});
		}
	}

	async #run(
		view: StoredAuthCredential,
		force: boolean,
		rejected?: (credential: OAuthCredential) => boolean,
	): Promise<StoredAuthCredential> {
		const held = this.#unpersisted.get(view.id);
		// A rotation we hold but could not store yet is the only live grant: refresh from it, never the stored one.
		const current = held ? held.row : await this.#readActive(view.id, view);
		const candidate = asOAuth(current);
		if (force && rejected && candidate && this.isFresh(candidate) && !rejected(candidate)) {
			// The caller's token was rejected, but the store already holds a newer one (a peer refreshed).
			return this.#adopt(current, Object.assign({}, view, { version: -1 }));
		}
		if (!held && this.#adoptable(current, view, force)) return this.#adopt(current, view);
		const upstream = this.#upstreamFor(current);
		const currentCredential = asOAuth(current);
		if (currentCredential) this.#checkBackoff(current, currentCredential);
		const leases = this.#options.store.leases;
		if (!leases) return this.#refresh(current, view, upstream, 0);

		const lease: LeaseHold = { held: false, lost: false };
		try {
			const outcome = await this.#acquireLease(current, view, force, lease);
			if (!lease.held) return outcome;
			return await this.#withRenewal(view.id, lease, () =>
				this.#refresh(held ? current : outcome, view, upstream, 0, lease),
			);
		} finally {
			// A rotation still unpersisted keeps the lease: peers must not refresh with the consumed token.
			if (lease.held && !this.#unpersisted.has(view.id)) {
				await leases.release(view.id, this.#options.owner).catch((error: unknown) => {
					this.#options.logger.warn("refresh lease release failed", {
						provider: view.provider,
						credentialId: view.id,
						error: redactString(errorMessage(error)),
					});
				});
			}
		}
	}

	/** A row the caller can use instead of refreshing: a peer's newer fresh row, or anything fresh when not forced. */
	#adoptable(row: StoredAuthCredential, view: StoredAuthCredential, force: boolean): boolean {
		const credential = asOAuth(row);
		// The row turned into an API key (replaced by the user): nothing to refresh, hand it back.
		if (!credential) return true;
		if (!this.isFresh(credential)) return false;
		return !force || row.version !== view.version;
	}

	#adopt(row: StoredAuthCredential, view: StoredAuthCredential): StoredAuthCredential {
		if (row.version !== view.version) {
			this.#options.logger.debug("adopted credential refreshed elsewhere", {
				provider: row.provider,
				credentialId: row.id,
				version: row.version,
			});
			this.#notify("onRowUpdated", () => this.#options.onRowUpdated(row));
		}
		return row;
	}

	/** Re-read a row; a missing or disabled row is reported and thrown as `NO_CREDENTIAL`. */
	async #readActive(id: number, view: StoredAuthCredential): Promise<StoredAuthCredential> {
		const row = await this.#options.store.rows.get(id);
		if (isActive(row)) return row;
		throw this.#gone(view);
	}

	#gone(view: StoredAuthCredential): AuthpoolError {
		this.#notify("onRowGone", () => this.#options.onRowGone?.(view.id));
		return new AuthpoolError("NO_CREDENTIAL", `${describe(view)} is no longer active`, {
			details: { provider: view.provider, credentialId: view.id },
		});
	}

	#upstreamFor(row: StoredAuthCredential): UpstreamCall {
		const hook = this.#options.store.upstream?.refreshOAuthCredential;
		if (hook) {
			const upstream = this.#options.store.upstream;
			return (credential, signal) => hook.call(upstream, row.provider, row.id, credential, signal);
		}
		if (asOAuth(row)?.refresh === REMOTE_REFRESH_SENTINEL) {
			// The real refresh token lives on a broker this store cannot reach: asking the provider would
			// only earn an invalid_grant and a false disable.
			throw new AuthpoolError(
				"OAUTH_NOT_SUPPORTED",
				`${describe(row)} is refreshed by a remote authority, but this store has no upstream refresh hook`,
				{ details: { provider: row.provider, credentialId: row.id } },
			);
		}
		const oauth = this.#options.registry.get(row.provider)?.oauth;
		if (!oauth) {
			throw new AuthpoolError("OAUTH_NOT_SUPPORTED", `provider ${row.provider} cannot refresh OAuth credentials`, {
				details: { provider: row.provider, credentialId: row.id },
			});
		}
		return (credential, signal) => {
			const ctx: PluginContext = {
				fetch: this.#options.fetch,
				clock: this.#options.clock,
				logger: this.#options.logger,
				env: this.#options.env,
				signal,
			};
			return oauth.refresh(credential, ctx);
		};
	}

	/**
	 * Take the row's lease, or wait while a peer holds it and adopt what the peer stores. A peer's lease is
	 * judged by its heartbeat on our monotonic clock, never by comparing wall clocks: only a lease whose
	 * `beat` stayed the same for its whole `ttlMs` is taken over (by naming it in `replace`), so a clock
	 * step in either direction neither steals a live lease nor keeps a dead one for an hour.
	 */
	async #acquireLease(
		row: StoredAuthCredential,
		view: StoredAuthCredential,
		force: boolean,
		hold: LeaseHold,
	): Promise<StoredAuthCredential> {
		const leases = this.#options.store.leases!;
		const started = performance.now();
		const budgetMs = this.#hardCapMs + 2 * this.#leaseTtlMs;
		let seen = row;
		let delay = LEASE_POLL_MIN_MS;
		let watched: { owner: string; beat: number; since: number; starved?: boolean } | undefined;
		for (;;) {
			// Closing: nothing was sent for this row yet, so nothing is lost by not starting now.
			if (this.#closing) throw new AbortedError(`refresh of ${describe(view)} not started: the pool is closing`);
			const lease = await leases.get(row.id);
			let attempt: { acquired: boolean } | undefined;
			if (lease === null || lease.owner === this.#options.owner) {
				attempt = await leases.acquire(row.id, this.#options.owner, this.#leaseTtlMs);
				watched = undefined;
			} else if (watched && watched.owner === lease.owner && watched.beat === lease.beat) {
				const ttl = lease.ttlMs > 0 ? lease.ttlMs : this.#leaseTtlMs;
				const silentMs = performance.now() - watched.since;
				// A holder on this host that still runs is starved, not dead: its token request may be in
				// flight. Wait for it up to the hard cap (the longest that request can run) before taking over.
				const starved = silentMs >= ttl && silentMs < ttl + this.#hardCapMs && leaseOwnerAlive(lease.owner) === true;
				if (starved && !watched.starved) {
					watched.starved = true;
					this.#options.logger.warn(
						"a refresh lease holder on this host stopped renewing but still runs; waiting for it",
						{
							provider: view.provider,
							credentialId: view.id,
						},
					);
				}
				if (silentMs >= ttl && !starved) {
					this.#options.logger.warn("taking over a refresh lease whose holder stopped renewing", {
						provider: view.provider,
						credentialId: view.id,
					});
					attempt = await leases.acquire(row.id, this.#options.owner, this.#leaseTtlMs, {
						replace: { owner: lease.owner, beat: lease.beat },
					});
					watched = undefined;
				}
			} else {
				watched = { owner: lease.owner, beat: lease.beat, since: performance.now() };
			}
			if (attempt?.acquired) {
				hold.held = true;
				// A peer may have finished between our read and the acquire.
				const latest = await this.#options.store.rows.get(row.id);
				if (!isActive(latest)) throw this.#gone(view);
				if (!this.#unpersisted.has(row.id) && this.#adoptable(latest, view, force)) {
					await this.#releaseQuietly(row.id, hold);
					return this.#adopt(latest, view);
				}
				return latest;
			}
			if (performance.now() - started >= budgetMs) {
				throw new AuthpoolError("TIMEOUT", `timed out waiting for another process to refresh ${describe(view)}`, {
					details: { provider: view.provider, credentialId: view.id },
				});
			}
			await sleep(delay);
			delay = Math.min(LEASE_POLL_MAX_MS, Math.round(delay * 1.5));
			const latest = await this.#readActive(row.id, view);
			if (latest.version !== seen.version) {
				seen = latest;
				if (!this.#unpersisted.has(row.id) && this.#adoptable(latest, view, force)) return this.#adopt(latest, view);
			}
		}
	}

	async #releaseQuietly(id: number, hold: LeaseHold): Promise<void> {
		if (!hold.held) return;
		hold.held = false;
		await this.#releaseLease(id);
	}

	/** Best effort: a lease we fail to release lapses, and its heartbeat stops, so a waiter takes it over. */
	async #releaseLease(id: number): Promise<void> {
		await this.#options.store.leases?.release(id, this.#options.owner).catch(() => {});
	}

	/**
	 * Only a live lease holder writes or disables: renew (which fails once another owner took over) right
	 * before the write. Without leases there is nothing to confirm.
	 */
	async #confirmLease(id: number, hold: LeaseHold | undefined): Promise<boolean> {
		const leases = this.#options.store.leases;
		if (!leases || !hold) return true;
		if (hold.lost) return false;
		try {
			const renewed = await leases.renew(id, this.#options.owner, this.#leaseTtlMs);
			if (!renewed) hold.lost = true;
			return renewed;
		} catch (error) {
			this.#options.logger.warn("refresh lease could not be confirmed", {
				credentialId: id,
				error: redactString(errorMessage(error)),
			});
			return false;
		}
	}

	async #withRenewal<T>(id: number, hold: LeaseHold, task: () => Promise<T>): Promise<T> {
		const leases = this.#options.store.leases;
		if (!leases) return task();
		const timer = setInterval(
			() => {
				if (hold.lost) return;
				leases.renew(id, this.#options.owner, this.#leaseTtlMs).then(
					(renewed) => {
						if (!renewed) {
							hold.lost = true;
							this.#options.logger.warn("refresh lease lost while refreshing", { credentialId: id });
						}
					},
					(error: unknown) =>
						this.#options.logger.warn("refresh lease renewal failed", {
							credentialId: id,
							error: redactString(errorMessage(error)),
						}),
				);
			},
			Math.max(1, Math.floor(this.#leaseTtlMs / 3)),
		);
		timer.unref?.();
		try {
			return await task();
		} finally {
			clearInterval(timer);
		}
	}

	/** A pool callback that throws must not turn a persisted refresh into a failure for every waiter. */
	#notify(name: string, callback: () => void): void {
		try {
			callback();
		} catch (error) {
			this.#options.logger.error("refresh callback threw", {
				callback: name,
				error: redactString(errorMessage(error)),
			});
		}
	}

	/** Throws the remembered transient failure while this refresh token is backing off. */
	#checkBackoff(row: StoredAuthCredential, credential: OAuthCredential): void {
		const failure = this.#transient.get(row.id);
		if (!failure) return;
		if (failure.until <= this.#options.clock.now() || failure.refreshFingerprint !== fingerprint(credential.refresh)) {
			// Expired, or a peer rotated the refresh token: the new one deserves a try.
			this.#transient.delete(row.id);
			return;
		}
		throw new OAuthRefreshError(
			`${describe(row)} refresh is backing off after a transient failure until ${new Date(failure.until).toISOString()}`,
			{
				provider: row.provider,
				credentialId: row.id,
				definitive: false,
				cause: failure.error,
				...(failure.error.status !== undefined ? { status: failure.error.status } : {}),
			},
		);
	}

	async #refresh(
		row: StoredAuthCredential,
		view: StoredAuthCredential,
		upstream: UpstreamCall,
		attempt: number,
		hold?: LeaseHold,
	): Promise<StoredAuthCredential> {
		const credential = asOAuth(row);
		if (!credential) return this.#adopt(row, view);
		this.#checkBackoff(row, credential);
		let result: OAuthRefreshResult;
		let merged: OAuthCredential;
		try {
			// Bounded by the hard cap, not the caller's wait: abandoning a sent request loses its rotation.
			result = await withTimeout(
				this.#hardCapMs,
				`${row.provider} token refresh got no answer within ${this.#hardCapMs} ms`,
				(signal) =>
					raceSignal(
						upstream(credential, AbortSignal.any([signal, this.#shutdown.signal])),
						this.#shutdown.signal,
						`${row.provider} token refresh abandoned: the pool closed before the token endpoint answered`,
					),
			);
			merged = mergeOAuthRefreshResult(row.provider, credential, result);
		} catch (error) {
			if ((AuthpoolError.isInstance(error) && error.code === "TIMEOUT") || this.#shutdown.signal.aborted)
				await this.#recordUnknownOutcome(row, credential);
			return this.#onFailure(row, credential, view, upstream, attempt, error, hold);
		}
		this.#transient.delete(row.id);
		if (this.#options.store.upstream?.refreshOAuthCredential) return this.#afterRemoteRefresh(row, merged);
		return this.#persist(row, credential, result, merged, view, upstream, attempt, hold);
	}

	/** The request outlived the hard cap: whether the provider rotated is unknown. Say so if the token is refused later. */
	async #recordUnknownOutcome(row: StoredAuthCredential, used: OAuthCredential): Promise<void> {
		await this.#options.store.cache
			.set(unknownOutcomeKey(row.id), fingerprint(used.refresh), this.#options.clock.now() + UNKNOWN_OUTCOME_TTL_MS)
			.catch(() => {});
	}

	/**
	 * The remote authority (broker) already persisted the rotation; only a view of it comes back, with
	 * the refresh token replaced by a sentinel. Prefer the store's own row once it reflects the refresh;
	 * otherwise the returned view is kept (same version, newer credential) so the next call does not ask again.
	 */
	async #afterRemoteRefresh(row: StoredAuthCredential, merged: OAuthCredential): Promise<StoredAuthCredential> {
		const latest = await this.#options.store.rows.get(row.id);
		if (!isActive(latest)) throw this.#gone(row);
		const latestCredential = asOAuth(latest);
		const updated =
			latest.version !== row.version && latestCredential && this.isFresh(latestCredential)
				? latest
				: Object.assign({}, latest, { credential: merged });
		this.#notify("onRowUpdated", () => this.#options.onRowUpdated(updated));
		return updated;
	}

	/**
	 * CAS the merged credential; on a lost race never overwrite a peer's rotation. Only while our lease is
	 * confirmed. A rotation that cannot be written (store error, lost lease) is kept, served and retried.
	 */
	async #persist(
		row: StoredAuthCredential,
		used: OAuthCredential,
		result: OAuthRefreshResult,
		merged: OAuthCredential,
		view: StoredAuthCredential,
		upstream: UpstreamCall,
		attempt: number,
		hold?: LeaseHold,
	): Promise<StoredAuthCredential> {
		const rotated = merged.refresh !== used.refresh;
		const consumedBy = (current: StoredAuthCredential | null) =>
			rotated && current !== null && asOAuth(current)?.refresh === used.refresh;
		let expected = row;
		let toWrite = merged;
		for (let tries = 0; tries < 3; tries += 1) {
			let cas: Awaited<ReturnType<AuthCredentialStore["rows"]["compareAndSet"]>>;
			try {
				if (!(await this.#confirmLease(row.id, hold))) throw new LeaseLostError();
				cas = await this.#options.store.rows.compareAndSet(expected.id, expected.version, toWrite);
			} catch (error) {
				if (!rotated) throw this.#storeFailure(row, error);
				// The provider consumed the old token: this rotation is the account's only live grant.
				return this.#keepUnpersisted(expected, toWrite, used, hold, error);
			}
			if (cas.ok) {
				this.#forgetUnpersisted(row.id);
				this.#options.logger.info("oauth credential refreshed", {
					provider: row.provider,
					credentialId: row.id,
					version: cas.row.version,
				});
				this.#notify("onRowUpdated", () => this.#options.onRowUpdated(cas.row));
				return cas.row;
			}
			const current = cas.current;
			if (!isActive(current)) {
				this.#forgetUnpersisted(row.id);
				this.#options.logger.warn("credential vanished while its refresh was in flight; result discarded", {
					provider: row.provider,
					credentialId: row.id,
				});
				throw this.#gone(row);
			}
			const currentCredential = asOAuth(current);
			if (!currentCredential) return this.#adopt(current, view);
			if (consumedBy(current) || (currentCredential.refresh === used.refresh && !this.isFresh(currentCredential))) {
				// The row still holds the grant we consumed (an unrelated write bumped the version): our result is
				// its only live successor, so it must land — on top of the newer row's other fields.
				expected = current;
				toWrite = mergeOAuthRefreshResult(row.provider, currentCredential, result);
				continue;
			}
			if (this.isFresh(currentCredential)) {
				this.#forgetUnpersisted(row.id);
				this.#options.logger.debug("lost refresh CAS to a peer; adopting its token", {
					provider: row.provider,
					credentialId: row.id,
				});
				this.#notify("onRowUpdated", () => this.#options.onRowUpdated(current));
				return current;
			}
			// A different grant that is not fresh (e.g. re-imported): refresh that one instead, once.
			if (attempt + 1 < MAX_ATTEMPTS) return this.#refresh(current, view, upstream, attempt + 1, hold);
			break;
		}
		throw new AuthpoolError("CONFLICT", `${describe(row)} changed concurrently while refreshing; try again`, {
			details: { provider: row.provider, credentialId: row.id },
		});
	}

	#storeFailure(row: StoredAuthCredential, error: unknown): AuthpoolError {
		if (error instanceof LeaseLostError) {
			return new OAuthRefreshError(`${describe(row)} refresh lease was lost before the result could be stored`, {
				provider: row.provider,
				credentialId: row.id,
				definitive: false,
			});
		}
		return AuthpoolError.isInstance(error)
			? error
			: new AuthpoolError("STORE_ERROR", `${describe(row)} refresh result could not be stored`, {
					details: { provider: row.provider, credentialId: row.id },
				});
	}

	/** Serve the rotation from memory, keep the lease, and retry the write with backoff until it lands. */
	#keepUnpersisted(
		base: StoredAuthCredential,
		credential: OAuthCredential,
		used: OAuthCredential,
		hold: LeaseHold | undefined,
		error: unknown,
	): StoredAuthCredential {
		const row: StoredAuthCredential = Object.assign({}, base, { credential });
		const previous = this.#unpersisted.get(base.id);
		this.#unpersisted.set(base.id, { row, credential, consumed: previous?.consumed ?? used.refresh });
		this.#options.logger.error("rotated refresh token could not be stored yet; serving it from memory and retrying", {
			provider: base.provider,
			credentialId: base.id,
			error: redact(errorMessage(error), credentialSecrets(credential).concat(credentialSecrets(used))),
		});
		this.#notify("onRowUpdated", () => this.#options.onRowUpdated(row));
		this.#scheduleUnpersistedRetry(base.id, hold, UNPERSISTED_RETRY_MIN_MS);
		return row;
	}

	#scheduleUnpersistedRetry(id: number, hold: LeaseHold | undefined, delayMs: number): void {
		if (this.#closed || this.#retryTimers.has(id)) return;
		const cap = Math.min(
			UNPERSISTED_RETRY_MAX_MS,
			Math.max(UNPERSISTED_RETRY_MIN_MS, Math.floor(this.#leaseTtlMs / 3)),
		);
		const wait = Math.min(cap, delayMs) * (0.75 + Math.random() * 0.5);
		const timer = setTimeout(() => {
			this.#retryTimers.delete(id);
			void this.#retryUnpersisted(id, hold, Math.min(cap, delayMs * 2));
		}, wait);
		// Keep the process alive: exiting now would lose the account's only live grant.
		this.#retryTimers.set(id, timer);
	}

	async #retryUnpersisted(id: number, hold: LeaseHold | undefined, nextDelayMs: number): Promise<void> {
		const held = this.#unpersisted.get(id);
		if (!held || this.#closed) return;
		const leases = this.#options.store.leases;
		try {
			if (leases) {
				// Our lease may have been lost (e.g. a long stall): take it back only when free or ours.
				const fence = hold && !hold.lost ? hold : { held: false, lost: false };
				if (!fence.held) {
					const lease = await leases.get(id);
					if (lease !== null && lease.owner !== this.#options.owner) throw new LeaseLostError();
					const taken = await leases.acquire(id, this.#options.owner, this.#leaseTtlMs);
					if (!taken.acquired) throw new LeaseLostError();
					fence.held = true;
				}
				if (!(await this.#confirmLease(id, fence))) throw new LeaseLostError();
			}
			const stored = await this.#options.store.rows.get(id);
			if (!isActive(stored)) {
				this.#forgetUnpersisted(id);
				return;
			}
			const storedCredential = asOAuth(stored);
			if (!storedCredential || storedCredential.refresh !== held.consumed) {
				// Somebody stored a different grant meanwhile (a re-login): ours is moot.
				this.#forgetUnpersisted(id);
				await this.#releaseLease(id);
				this.#notify("onRowUpdated", () => this.#options.onRowUpdated(stored));
				return;
			}
			const toWrite = mergeOAuthRefreshResult(stored.provider, storedCredential, held.credential);
			const cas = await this.#options.store.rows.compareAndSet(id, stored.version, toWrite);
			if (!cas.ok) throw new AuthpoolError("CONFLICT", "row moved; retrying");
			this.#forgetUnpersisted(id);
			await this.#releaseLease(id);
			this.#options.logger.info("rotated refresh token stored after a retry", {
				provider: stored.provider,
				credentialId: id,
				version: cas.row.version,
			});
			this.#notify("onRowUpdated", () => this.#options.onRowUpdated(cas.row));
		} catch (error) {
			this.#options.logger.warn("storing a rotated refresh token failed again; will retry", {
				provider: held.row.provider,
				credentialId: id,
				error: redact(errorMessage(error), credentialSecrets(held.credential)),
			});
			this.#scheduleUnpersistedRetry(id, hold, nextDelayMs);
		}
	}

	#forgetUnpersisted(id: number): void {
		this.#unpersisted.delete(id);
		const timer = this.#retryTimers.get(id);
		if (timer) clearTimeout(timer);
		this.#retryTimers.delete(id);
	}

	async #onFailure(
		row: StoredAuthCredential,
		used: OAuthCredential,
		view: StoredAuthCredential,
		upstream: UpstreamCall,
		attempt: number,
		error: unknown,
		hold?: LeaseHold,
	): Promise<StoredAuthCredential> {
		const safe = sanitizeError(row.provider, error, used);
		if (isDefinitiveRefreshFailure(error)) return this.#onDefinitive(row, used, view, upstream, attempt, safe, hold);
		const now = this.#options.clock.now();
		const stillValid = used.expires > now;
		// While the access token works, retry well before it expires instead of sitting out the full back-off;
		// the row stays usable (no block): a transient 503 must not take a working account away.
		const until = stillValid
			? now + Math.min(this.#transientBackoffMs, Math.max(MIN_VALID_BACKOFF_MS, Math.floor((used.expires - now) / 2)))
			: now + this.#transientBackoffMs;
		const wrapped = new OAuthRefreshError(`${describe(row)} refresh failed (transient): ${safe.message}`, {
			provider: row.provider,
			credentialId: row.id,
			definitive: false,
			cause: safe,
			...(safe.status !== undefined ? { status: safe.status } : {}),
			...(safe.errorCode !== undefined ? { errorCode: safe.errorCode } : {}),
		});
		this.#transient.set(row.id, { refreshFingerprint: fingerprint(used.refresh), until, error: wrapped });
		this.#options.logger.warn("oauth refresh failed transiently; backing off", {
			provider: row.provider,
			credentialId: row.id,
			until,
			error: safe.message,
		});
		if (!stillValid) this.#notify("onTransientFailure", () => this.#options.onTransientFailure(row, until, wrapped));
		throw wrapped;
	}

	async #onDefinitive(
		row: StoredAuthCredential,
		used: OAuthCredential,
		view: StoredAuthCredential,
		upstream: UpstreamCall,
		attempt: number,
		safe: OAuthRefreshError,
		hold?: LeaseHold,
	): Promise<StoredAuthCredential> {
		const lostInFlight = await this.#options.store.cache
			.get(unknownOutcomeKey(row.id))
			.then((value) => value === fingerprint(used.refresh))
			.catch(() => false);
		const cause = lostInFlight
			? `oauth refresh failed: ${definitiveReason(safe)} (a rotation was probably lost in flight: an earlier refresh got no answer)`
			: `oauth refresh failed: ${definitiveReason(safe)}`;
		let latest = await this.#options.store.rows.get(row.id);
		for (let tries = 0; tries < 3; tries += 1) {
			if (!isActive(latest)) throw this.#gone(row);
			const peer = this.#peerRotation(latest, used, view, attempt);
			if (peer) return peer === "retry" ? this.#refresh(latest, view, upstream, attempt + 1, hold) : peer;
			if (!(await this.#confirmLease(row.id, hold))) {
				// A peer holds the lease now: its view decides; we never disable on a stale one.
				throw new OAuthRefreshError(`${describe(row)} refresh failed after its lease passed to a peer; try again`, {
					provider: row.provider,
					credentialId: row.id,
					definitive: false,
				});
			}
			const result = await this.#options.store.rows.compareAndDisable(latest.id, latest.version, cause);
			if (result.ok) {
				this.#transient.delete(row.id);
				this.#options.logger.warn("oauth credential disabled after a definitive refresh failure", {
					provider: row.provider,
					credentialId: row.id,
					cause,
				});
				const error = new OAuthRefreshError(`${describe(row)} was disabled: ${cause}`, {
					provider: row.provider,
					credentialId: row.id,
					definitive: true,
					cause: safe,
					...(safe.status !== undefined ? { status: safe.status } : {}),
					...(safe.errorCode !== undefined ? { errorCode: safe.errorCode } : {}),
				});
				const disabled = result.row;
				this.#notify("onRowDisabled", () => this.#options.onRowDisabled(disabled, cause, error));
				throw error;
			}
			// Lost the disable CAS: someone wrote the row meanwhile; judge the new version.
			latest = result.current;
		}
		throw new AuthpoolError("CONFLICT", `${describe(row)} changed concurrently while handling a refresh failure`, {
			details: { provider: row.provider, credentialId: row.id },
		});
	}

	/**
	 * After a definitive failure: did a peer rotate the row meanwhile? Then the failure says nothing about
	 * the stored grant. Returns the row to adopt, `"retry"` to refresh once with the peer's grant, or
	 * `undefined` when the stored grant is the one that just died.
	 */
	#peerRotation(
		latest: StoredAuthCredential,
		used: OAuthCredential,
		view: StoredAuthCredential,
		attempt: number,
	): StoredAuthCredential | "retry" | undefined {
		const credential = asOAuth(latest);
		if (!credential) return this.#adopt(latest, view);
		const refreshChanged = credential.refresh !== used.refresh;
		const accessChanged = credential.access !== used.access;
		if (!refreshChanged && !accessChanged) return undefined;
		if (this.isFresh(credential)) {
			this.#options.logger.info("refresh failed after a peer rotated the credential; adopting the peer's token", {
				provider: latest.provider,
				credentialId: latest.id,
			});
			this.#notify("onRowUpdated", () => this.#options.onRowUpdated(latest));
			return latest;
		}
		if (!refreshChanged) return undefined;
		if (attempt + 1 < MAX_ATTEMPTS) return "retry";
		throw new OAuthRefreshError(`${describe(latest)} refresh failed after a concurrent rotation; try again`, {
			provider: latest.provider,
			credentialId: latest.id,
			definitive: false,
		});
	}
}

interface LeaseHold {
	held: boolean;
	/** Another owner took the lease over (or it vanished): we must not write or disable. */
	lost: boolean;
}

class LeaseLostError extends Error {
	constructor() {
		super("refresh lease lost");
	}
}

function describe(row: StoredAuthCredential): string {
	const email = row.credential.type === "oauth" ? row.credential.email : undefined;
	return `${row.provider} credential ${row.id}${email ? ` (${email})` : ""}`;
}

/**
 * A copy of a refresh error that is safe to surface: the plugin may have put anything in its message,
 * so the credential's own token bytes and token-shaped strings are scrubbed.
 */
function sanitizeError(provider: string, error: unknown, credential: OAuthCredential): OAuthRefreshError {
	const message = redact(errorMessage(error), credentialSecrets(credential));
	// Always a fresh error: the original's `cause` chain may carry request bodies or tokens.
	const status = OAuthRefreshError.isInstance(error) ? error.status : errorStatus(error);
	const errorCode = OAuthRefreshError.isInstance(error) ? error.errorCode : undefined;
	return new OAuthRefreshError(message, {
		provider,
		definitive: isDefinitiveRefreshFailure(error),
		...(status !== undefined ? { status } : {}),
		...(errorCode !== undefined ? { errorCode } : {}),
	});
}

/** Short non-secret reason for a disable cause. */
function definitiveReason(error: OAuthRefreshError): string {
	if (error.errorCode) return error.errorCode;
	const named = /invalid_grant|invalid_token|unauthorized_client|invalid_client|revoked|expired/i.exec(error.message);
	if (named) return named[0].toLowerCase();
	if (error.status !== undefined) return `HTTP ${error.status}`;
	return "refresh token rejected";
}

function positive(value: number | undefined, fallback: number, name: string): number {
	if (value === undefined) return fallback;
	if (!Number.isFinite(value) || value <= 0) {
		throw new AuthpoolError("INVALID_OPTIONS", `Invalid OAuth refresher options: ${name}: must be a positive number`);
	}
	return value;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
	if (value === undefined) return fallback;
	if (!Number.isFinite(value) || value < 0) {
		throw new AuthpoolError(
			"INVALID_OPTIONS",
			`Invalid OAuth refresher options: ${name}: must be a non-negative number`,
		);
	}
	return value;
}
