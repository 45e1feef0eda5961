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
import type { Clock, Env, FetchLike, Logger, OAuthCredential, StoredAuthCredential } from "../types";
import { raceSignal, sleep, withTimeout } from "../util/abort";
import { fingerprint } from "../util/hash";
import { credentialSecrets, redact, redactString } from "../util/redact";
import { errorMessage, errorStatus, isDefinitiveRefreshFailure } from "./classify";

/** Default upstream bound for one refresh call. */
export const DEFAULT_REFRESH_TIMEOUT_MS = 10_000;
/** Refresh when `now + skew >= expires`. */
export const DEFAULT_REFRESH_SKEW_MS = 60_000;
/** Cross-process refresh lease lifetime; renewed every third of it while the upstream call runs. */
export const DEFAULT_REFRESH_LEASE_TTL_MS = 15_000;
/** How long a transient refresh failure backs the row (and that refresh token) off. */
export const DEFAULT_TRANSIENT_BACKOFF_MS = 300_000;

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
	/** Called whenever a newer version of a row is known (adopted from a peer or persisted by us). */
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
	readonly #flights = new Map<number, Promise<StoredAuthCredential>>();
	readonly #transient = new Map<number, TransientFailure>();

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
		options: { force?: boolean; signal?: AbortSignal } = {},
	): Promise<StoredAuthCredential> {
		const credential = asOAuth(row);
		if (!credential) return row;
		if (!options.force && this.isFresh(credential)) return row;
		if (options.signal?.aborted) throw new AbortedError(`refresh of ${describe(row)} aborted by caller`);
		let flight = this.#flights.get(row.id);
		if (!flight) {
			const started = this.#run(row, options.force === true);
			flight = started;
			this.#flights.set(row.id, started);
			const done = () => {
				if (this.#flights.get(row.id) === started) this.#flights.delete(row.id);
			};
			started.then(done, done);
		}
		return raceSignal(flight, options.signal, `refresh of ${describe(row)} aborted by caller`);
	}

	async #run(view: StoredAuthCredential, force: boolean): Promise<StoredAuthCredential> {
		const current = await this.#readActive(view.id, view);
		if (this.#adoptable(current, view, force)) return this.#adopt(current, view);
		const upstream = this.#upstreamFor(current);
		const currentCredential = asOAuth(current);
		if (currentCredential) this.#checkBackoff(current, currentCredential);
		const leases = this.#options.store.leases;
		if (!leases) return this.#refresh(current, view, upstream, 0);

		let held = false;
		try {
			const outcome = await this.#acquireLease(current, view, force);
			held = outcome.held;
			if (!outcome.held) return outcome.row;
			return await this.#withRenewal(view.id, () => this.#refresh(outcome.row, view, upstream, 0));
		} finally {
			if (held) {
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
	 * Take the row's lease, or wait while a peer holds it and adopt what the peer stores. Bounded by the
	 * upstream timeout plus one lease lifetime: a live holder finishes within that, a crashed one's lease
	 * expires within it.
	 */
	async #acquireLease(
		row: StoredAuthCredential,
		view: StoredAuthCredential,
		force: boolean,
	): Promise<{ held: true; row: StoredAuthCredential } | { held: false; row: StoredAuthCredential }> {
		const leases = this.#options.store.leases;
		if (!leases) return { held: false, row };
		const started = performance.now();
		const budgetMs = this.#timeoutMs + this.#leaseTtlMs;
		let seen = row;
		let delay = LEASE_POLL_MIN_MS;
		for (;;) {
			const { acquired } = await leases.acquire(row.id, this.#options.owner, this.#leaseTtlMs);
			if (acquired) {
				let keep = false;
				try {
					// A peer may have finished between our read and the acquire.
					const latest = await this.#options.store.rows.get(row.id);
					if (!isActive(latest)) throw this.#gone(view);
					if (this.#adoptable(latest, view, force)) return { held: false, row: this.#adopt(latest, view) };
					keep = true;
					return { held: true, row: latest };
				} finally {
					if (!keep) await leases.release(row.id, this.#options.owner).catch(() => {});
				}
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
				if (this.#adoptable(latest, view, force)) return { held: false, row: this.#adopt(latest, view) };
			}
		}
	}

	async #withRenewal<T>(id: number, task: () => Promise<T>): Promise<T> {
		const leases = this.#options.store.leases;
		if (!leases) return task();
		const timer = setInterval(
			() => {
				leases.renew(id, this.#options.owner, this.#leaseTtlMs).then(
					(renewed) => {
						if (!renewed) this.#options.logger.warn("refresh lease lost while refreshing", { credentialId: id });
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
	): Promise<StoredAuthCredential> {
		const credential = asOAuth(row);
		if (!credential) return this.#adopt(row, view);
		this.#checkBackoff(row, credential);
		let result: OAuthRefreshResult;
		let merged: OAuthCredential;
		try {
			result = await withTimeout(
				this.#timeoutMs,
				`${row.provider} token refresh timed out after ${this.#timeoutMs} ms`,
				(signal) => upstream(credential, signal),
			);
			merged = mergeOAuthRefreshResult(row.provider, credential, result);
		} catch (error) {
			return this.#onFailure(row, credential, view, upstream, attempt, error);
		}
		this.#transient.delete(row.id);
		if (this.#options.store.upstream?.refreshOAuthCredential) return this.#afterRemoteRefresh(row, merged);
		return this.#persist(row, credential, result, merged, view, upstream, attempt);
	}

	/**
	 * The remote authority (broker) already persisted the rotation; only a view of it comes back, with
	 * the refresh token replaced by a sentinel. Prefer the store's own row once it reflects the refresh.
	 */
	async #afterRemoteRefresh(row: StoredAuthCredential, merged: OAuthCredential): Promise<StoredAuthCredential> {
		const latest = await this.#options.store.rows.get(row.id);
		if (!isActive(latest)) throw this.#gone(row);
		const latestCredential = asOAuth(latest);
		const updated =
			latest.version !== row.version && latestCredential && this.isFresh(latestCredential)
				? latest
				: { ...latest, credential: merged };
		this.#notify("onRowUpdated", () => this.#options.onRowUpdated(updated));
		return updated;
	}

	/** CAS the merged credential; on a lost race never overwrite a peer's rotation. */
	async #persist(
		row: StoredAuthCredential,
		used: OAuthCredential,
		result: OAuthRefreshResult,
		merged: OAuthCredential,
		view: StoredAuthCredential,
		upstream: UpstreamCall,
		attempt: number,
	): Promise<StoredAuthCredential> {
		let expected = row;
		let toWrite = merged;
		const rotated = merged.refresh !== used.refresh;
		for (let tries = 0; tries < 3; tries += 1) {
			const cas = await this.#options.store.rows.compareAndSet(expected.id, expected.version, toWrite);
			if (cas.ok) {
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
				this.#options.logger.warn("credential vanished while its refresh was in flight; result discarded", {
					provider: row.provider,
					credentialId: row.id,
				});
				throw this.#gone(row);
			}
			const currentCredential = asOAuth(current);
			if (!currentCredential) return this.#adopt(current, view);
			if (currentCredential.refresh === used.refresh && (rotated || !this.isFresh(currentCredential))) {
				// The row still holds the grant we consumed (an unrelated write bumped the version): our result is
				// its only live successor, so it must land — on top of the newer row's other fields.
				expected = current;
				toWrite = mergeOAuthRefreshResult(row.provider, currentCredential, result);
				continue;
			}
			if (this.isFresh(currentCredential)) {
				this.#options.logger.debug("lost refresh CAS to a peer; adopting its token", {
					provider: row.provider,
					credentialId: row.id,
				});
				this.#notify("onRowUpdated", () => this.#options.onRowUpdated(current));
				return current;
			}
			// A different grant that is not fresh (e.g. re-imported): refresh that one instead, once.
			if (attempt + 1 < MAX_ATTEMPTS) return this.#refresh(current, view, upstream, attempt + 1);
			break;
		}
		throw new AuthpoolError("CONFLICT", `${describe(row)} changed concurrently while refreshing; try again`, {
			details: { provider: row.provider, credentialId: row.id },
		});
	}

	async #onFailure(
		row: StoredAuthCredential,
		used: OAuthCredential,
		view: StoredAuthCredential,
		upstream: UpstreamCall,
		attempt: number,
		error: unknown,
	): Promise<StoredAuthCredential> {
		const safe = sanitizeError(row.provider, error, used);
		if (isDefinitiveRefreshFailure(error)) return this.#onDefinitive(row, used, view, upstream, attempt, safe);
		const until = this.#options.clock.now() + this.#transientBackoffMs;
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
		this.#notify("onTransientFailure", () => this.#options.onTransientFailure(row, until, wrapped));
		throw wrapped;
	}

	async #onDefinitive(
		row: StoredAuthCredential,
		used: OAuthCredential,
		view: StoredAuthCredential,
		upstream: UpstreamCall,
		attempt: number,
		safe: OAuthRefreshError,
	): Promise<StoredAuthCredential> {
		const cause = `oauth refresh failed: ${definitiveReason(safe)}`;
		let latest = await this.#options.store.rows.get(row.id);
		for (let tries = 0; tries < 3; tries += 1) {
			if (!isActive(latest)) throw this.#gone(row);
			const peer = this.#peerRotation(latest, used, view, attempt);
			if (peer) return peer === "retry" ? this.#refresh(latest, view, upstream, attempt + 1) : peer;
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
