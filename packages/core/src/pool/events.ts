/**
 * Event fan-out for the pool: `credential_disabled` (with a bounded replay buffer for events raised
 * before anyone listened) and the generation counter of the loaded credential set.
 */
import { errorMessage } from "../refresh/classify";
import type { Logger } from "../types";
import { redactString } from "../util/redact";

/** Raised once for every automatic disable (definitive refresh failure, broker disable, ...). */
export interface CredentialDisabledEvent {
	type: "credential_disabled";
	provider: string;
	credentialId: number;
	/** Short, non-secret reason. */
	disabledCause: string;
	credentialType: "oauth" | "api_key";
	email?: string;
	accountId?: string;
	/** Organization, where the provider's credential carries one (`orgId`/`organizationId`). */
	orgId?: string;
	/** Organization name, where known (`orgName`/`organizationName`). */
	orgName?: string;
	/** Epoch ms. */
	at: number;
}

/** May be async; a throw or rejection is logged and never reaches other listeners. */
export type CredentialDisabledListener = (event: CredentialDisabledEvent) => void | Promise<void>;

/** Listener of generation changes; receives the new generation. */
export type GenerationListener = (generation: number) => void;

/** Events raised while nobody listens are kept (oldest dropped first) up to this many. */
export const MAX_BUFFERED_DISABLED_EVENTS = 32;

/**
 * Fans `credential_disabled` events out to listeners, isolating them from each other. Events emitted
 * with no listener are buffered and replayed once to the listener that ends the silence.
 */
export class CredentialDisabledEvents {
	readonly #listeners = new Set<CredentialDisabledListener>();
	#pending: CredentialDisabledEvent[] = [];
	readonly #logger: Logger;
	readonly #maxBuffered: number;

	constructor(logger: Logger, maxBuffered = MAX_BUFFERED_DISABLED_EVENTS) {
		this.#logger = logger;
		this.#maxBuffered = maxBuffered;
	}

	/** Subscribe; returns an idempotent unsubscribe. */
	subscribe(listener: CredentialDisabledListener): () => void {
		const wasEmpty = this.#listeners.size === 0;
		this.#listeners.add(listener);
		if (wasEmpty && this.#pending.length > 0) {
			const drained = this.#pending;
			this.#pending = [];
			for (const event of drained) this.#invoke(listener, event);
		}
		return () => {
			this.#listeners.delete(listener);
		};
	}

	emit(event: CredentialDisabledEvent): void {
		if (this.#listeners.size === 0) {
			if (this.#pending.length >= this.#maxBuffered) this.#pending.shift();
			this.#pending.push(event);
			return;
		}
		// Snapshot so a listener that (un)subscribes during fan-out cannot skew this round.
		for (const listener of [...this.#listeners]) this.#invoke(listener, event);
	}

	/** Buffered events not yet delivered (for diagnostics). */
	get pendingCount(): number {
		return this.#pending.length;
	}

	#invoke(listener: CredentialDisabledListener, event: CredentialDisabledEvent): void {
		const report = (error: unknown) => {
			this.#logger.warn("credential_disabled listener failed", {
				provider: event.provider,
				credentialId: event.credentialId,
				error: redactString(errorMessage(error)),
			});
		};
		try {
			const result = listener(event);
			if (result && typeof (result as PromiseLike<void>).then === "function") {
				(result as Promise<void>).then(undefined, report);
			}
		} catch (error) {
			report(error);
		}
	}
}

/** A counter bumped on every change of the loaded credential set. Per process, not persisted. */
export class GenerationCounter {
	#value = 1;
	readonly #listeners = new Set<GenerationListener>();
	readonly #logger: Logger;

	constructor(logger: Logger) {
		this.#logger = logger;
	}

	get value(): number {
		return this.#value;
	}

	bump(reason: string): number {
		this.#value += 1;
		const report = (error: unknown) => {
			this.#logger.debug("generation listener failed", { reason, error: redactString(errorMessage(error)) });
		};
		for (const listener of [...this.#listeners]) {
			try {
				const result: unknown = listener(this.#value);
				// An async listener's rejection must not surface as an unhandled rejection.
				if (result && typeof (result as PromiseLike<unknown>).then === "function") {
					(result as Promise<unknown>).then(undefined, report);
				}
			} catch (error) {
				report(error);
			}
		}
		return this.#value;
	}

	subscribe(listener: GenerationListener): () => void {
		this.#listeners.add(listener);
		return () => {
			this.#listeners.delete(listener);
		};
	}
}
