/**
 * Session → row pins. A session keeps the row it got (warm provider prompt caches). Pins are held by
 * row id in a bounded LRU and persisted in the store cache (30 days) so another instance, or this
 * one after a restart, routes the session the same way. The store is written only when a pin changes
 * and read only the first time a session is seen.
 *
 * Automatic pins are written behind, in batches (one flush per turn of the event loop): a new
 * session's first call does not wait for a store write. A crash before the flush loses at most those
 * pins, which only costs the sessions a prompt cache (they are routed afresh). Explicit pins
 * (`pinSession`) are written through and never replaced by selection.
 */
import { errorMessage } from "../refresh/classify";
import type { AuthCredentialStore } from "../store/store";
import type { Clock, CredentialType, Logger } from "../types";
import { LruMap } from "../util/lru";
import { redactString } from "../util/redact";

/** A session's pin. */
export interface SessionPin {
	type: CredentialType;
	credentialId: number;
	/** Set by `pinSession`: wins over ranking and priority, survives restarts, kept on failover. */
	explicit?: boolean;
}

/** How long an explicit pin lives in the store cache (until `unpinSession`, in practice). */
export const EXPLICIT_PIN_TTL_MS = 10 * 365 * 24 * 60 * 60_000;

/** Pending write-behind pins flushed per batch at most. */
const FLUSH_BATCH = 512;

/** How long a persisted pin lives in the store cache. */
export const SESSION_PIN_TTL_MS = 30 * 24 * 60 * 60_000;

/** Default bound of in-memory session state. */
export const DEFAULT_MAX_SESSIONS = 10_000;

/** Store cache key of a pin. */
export function sessionPinKey(provider: string, sessionId: string): string {
	return `session:${provider}:${sessionId}`;
}

export interface SessionAffinityOptions {
	store: AuthCredentialStore;
	clock: Clock;
	logger: Logger;
	/** @default DEFAULT_MAX_SESSIONS */
	maxSessions?: number;
	/** @default SESSION_PIN_TTL_MS */
	ttlMs?: number;
}

function parsePin(raw: string | null): SessionPin | null {
	if (!raw) return null;
	try {
		const value = JSON.parse(raw) as { type?: unknown; credentialId?: unknown };
		if ((value.type === "oauth" || value.type === "api_key") && Number.isSafeInteger(value.credentialId)) {
			const pin: SessionPin = { type: value.type, credentialId: value.credentialId as number };
			if ((value as { explicit?: unknown }).explicit === true) pin.explicit = true;
			return pin;
		}
	} catch {
		// A corrupt pin is just a missing pin.
	}
	return null;
}

/** Bounded, persisted session pins. */
export class SessionAffinity {
	// `null` remembers "the store has no pin for this session" so we do not ask again.
	readonly #pins: LruMap<string, SessionPin | null>;
	readonly #store: AuthCredentialStore;
	readonly #clock: Clock;
	readonly #logger: Logger;
	readonly #ttlMs: number;
	// Store key → value to write (`null`: delete). Flushed behind the calls that produced them.
	readonly #pending = new Map<string, { value: string; expiresAt: number } | null>();
	#flushing: Promise<void> | undefined;
	#scheduled = false;

	constructor(options: SessionAffinityOptions) {
		this.#pins = new LruMap(options.maxSessions ?? DEFAULT_MAX_SESSIONS);
		this.#store = options.store;
		this.#clock = options.clock;
		this.#logger = options.logger;
		this.#ttlMs = options.ttlMs ?? SESSION_PIN_TTL_MS;
	}

	/** Sessions held in memory (bounded by `maxSessions`). */
	get size(): number {
		return this.#pins.size;
	}

	/** Memory only; never touches the store. */
	/** Memory-only lookup for the hot path; marks the session recently used (keeps it in the LRU). */
	cached(provider: string, sessionId: string): SessionPin | undefined {
		return this.#pins.get(`${provider}\0${sessionId}`) ?? undefined;
	}

	peek(provider: string, sessionId: string | undefined): SessionPin | undefined {
		if (!sessionId) return undefined;
		return this.#pins.peek(`${provider}\0${sessionId}`) ?? undefined;
	}

	/** The session's pin: memory first, the store cache the first time a session is seen. */
	async get(provider: string, sessionId: string | undefined): Promise<SessionPin | undefined> {
		if (!sessionId) return undefined;
		const key = `${provider}\0${sessionId}`;
		const known = this.#pins.get(key);
		if (known !== undefined) return known ?? undefined;
		let pin: SessionPin | null = null;
		const storeKey = sessionPinKey(provider, sessionId);
		const pending = this.#pending.get(storeKey);
		if (pending !== undefined) {
			// Evicted from memory before its write-behind flush: the queued value is the newest.
			pin = parsePin(pending?.value ?? null);
			this.#pins.set(key, pin);
			return pin ?? undefined;
		}
		try {
			pin = parsePin(await this.#store.cache.get(storeKey));
		} catch (error) {
			this.#logger.debug("could not read session pin", { provider, error: redactString(errorMessage(error)) });
		}
		// A concurrent `set` may have landed while we read; it is newer than the stored value.
		const raced = this.#pins.peek(key);
		if (raced !== undefined) return raced ?? undefined;
		this.#pins.set(key, pin);
		return pin ?? undefined;
	}

	/**
	 * Pin a session to a row (selection's automatic pin); the store write happens behind the call, only
	 * when the pin changes. An explicit pin of the session is never replaced here.
	 */
	set(provider: string, sessionId: string | undefined, pin: SessionPin): void {
		if (!sessionId) return;
		const key = `${provider}\0${sessionId}`;
		const current = this.#pins.get(key);
		if (current?.explicit) return;
		if (current && current.type === pin.type && current.credentialId === pin.credentialId) return;
		this.#pins.set(key, { type: pin.type, credentialId: pin.credentialId });
		this.#queue(sessionPinKey(provider, sessionId), {
			value: JSON.stringify({ type: pin.type, credentialId: pin.credentialId }),
			expiresAt: this.#clock.now() + this.#ttlMs,
		});
	}

	/** Pin a session explicitly (`pinSession`): written through, survives restarts. */
	async setExplicit(
		provider: string,
		sessionId: string,
		pin: { type: CredentialType; credentialId: number },
	): Promise<void> {
		const key = `${provider}\0${sessionId}`;
		const storeKey = sessionPinKey(provider, sessionId);
		this.#pins.set(key, { type: pin.type, credentialId: pin.credentialId, explicit: true });
		this.#pending.delete(storeKey);
		await this.#store.cache.set(
			storeKey,
			JSON.stringify({ type: pin.type, credentialId: pin.credentialId, explicit: true }),
			this.#clock.now() + EXPLICIT_PIN_TTL_MS,
		);
	}

	/** Forget a session's pin, explicit or not (`unpinSession`); written through. */
	async unpin(provider: string, sessionId: string): Promise<boolean> {
		const key = `${provider}\0${sessionId}`;
		const current = await this.get(provider, sessionId);
		this.#pins.set(key, null);
		const storeKey = sessionPinKey(provider, sessionId);
		this.#pending.delete(storeKey);
		await this.#store.cache.delete(storeKey);
		return current !== undefined;
	}

	/** Forget a session's automatic pin (row gone, auth error); an explicit pin stays unless `force`. */
	drop(provider: string, sessionId: string | undefined, options: { force?: boolean } = {}): void {
		if (!sessionId) return;
		const key = `${provider}\0${sessionId}`;
		const current = this.#pins.peek(key);
		if (current?.explicit && !options.force) return;
		this.#pins.set(key, null);
		if (current === null) return;
		this.#queue(sessionPinKey(provider, sessionId), null);
	}

	#queue(storeKey: string, value: { value: string; expiresAt: number } | null): void {
		this.#pending.delete(storeKey);
		this.#pending.set(storeKey, value);
		// A burst larger than a batch flushes now, so the queue stays bounded too.
		if (this.#pending.size >= FLUSH_BATCH && !this.#flushing) void this.flush();
		if (this.#scheduled) return;
		this.#scheduled = true;
		setImmediate(() => {
			this.#scheduled = false;
			void this.flush();
		});
	}

	/** Pins waiting for their write-behind flush. */
	get pendingWrites(): number {
		return this.#pending.size;
	}

	/** Write pending pins now (in batches); resolves when the store has them. Never rejects. */
	async flush(): Promise<void> {
		while (this.#flushing) await this.#flushing;
		if (this.#pending.size === 0) return;
		const run = (async () => {
			while (this.#pending.size > 0) {
				const batch: Array<[string, { value: string; expiresAt: number } | null]> = [];
				for (const entry of this.#pending) {
					batch.push(entry);
					if (batch.length >= FLUSH_BATCH) break;
				}
				for (const [storeKey] of batch) this.#pending.delete(storeKey);
				try {
					const cache = this.#store.cache;
					if (cache.setMany && batch.every(([, value]) => value !== null)) {
						await cache.setMany(
							batch.map(([storeKey, value]) => ({ key: storeKey, value: value!.value, expiresAt: value!.expiresAt })),
						);
					} else {
						for (const [storeKey, value] of batch) {
							if (value === null) await cache.delete(storeKey);
							else await cache.set(storeKey, value.value, value.expiresAt);
						}
					}
				} catch (error) {
					this.#logger.debug("could not persist session pins", {
						count: batch.length,
						error: redactString(errorMessage(error)),
					});
				}
			}
		})();
		this.#flushing = run;
		try {
			await run;
		} finally {
			this.#flushing = undefined;
		}
	}
}
