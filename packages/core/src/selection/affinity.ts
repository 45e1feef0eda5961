/**
 * Session → row pins. A session keeps the row it got (warm provider prompt caches). Pins are held by
 * row id in a bounded LRU and persisted in the store cache (30 days) so another instance, or this
 * one after a restart, routes the session the same way. The store is written only when a pin changes
 * and read only the first time a session is seen.
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
}

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
			return { type: value.type, credentialId: value.credentialId as number };
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
		try {
			pin = parsePin(await this.#store.cache.get(sessionPinKey(provider, sessionId)));
		} catch (error) {
			this.#logger.debug("could not read session pin", { provider, error: redactString(errorMessage(error)) });
		}
		// A concurrent `set` may have landed while we read; it is newer than the stored value.
		const raced = this.#pins.peek(key);
		if (raced !== undefined) return raced ?? undefined;
		this.#pins.set(key, pin);
		return pin ?? undefined;
	}

	/** Pin a session to a row; writes the store only when the pin changes. */
	async set(provider: string, sessionId: string | undefined, pin: SessionPin): Promise<void> {
		if (!sessionId) return;
		const key = `${provider}\0${sessionId}`;
		const current = this.#pins.get(key);
		if (current && current.type === pin.type && current.credentialId === pin.credentialId) return;
		this.#pins.set(key, { type: pin.type, credentialId: pin.credentialId });
		try {
			await this.#store.cache.set(
				sessionPinKey(provider, sessionId),
				JSON.stringify({ type: pin.type, credentialId: pin.credentialId }),
				this.#clock.now() + this.#ttlMs,
			);
		} catch (error) {
			this.#logger.debug("could not persist session pin", { provider, error: redactString(errorMessage(error)) });
		}
	}

	/** Forget a session's pin (row gone, auth error). */
	async drop(provider: string, sessionId: string | undefined): Promise<void> {
		if (!sessionId) return;
		const key = `${provider}\0${sessionId}`;
		const current = this.#pins.peek(key);
		this.#pins.set(key, null);
		if (current === null) return;
		try {
			await this.#store.cache.delete(sessionPinKey(provider, sessionId));
		} catch (error) {
			this.#logger.debug("could not delete session pin", { provider, error: redactString(errorMessage(error)) });
		}
	}
}
