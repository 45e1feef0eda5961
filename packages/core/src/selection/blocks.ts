/**
 * Temporary blocks keyed by row id (never by position), `provider:type` and scope, mirrored from the
 * store's durable `blocks` so a restart or a sibling instance honours them. Reads are memory only; the
 * pool re-reads the store's blocks when the change revision moves.
 */
import { errorMessage } from "../refresh/classify";
import type { AuthCredentialStore, CredentialBlock } from "../store/store";
import type { Clock, Logger } from "../types";
import { redactString } from "../util/redact";

/** Longest block we accept: a bad retry-after or reset time must not park an account for months. */
export const MAX_BLOCK_MS = 8 * 24 * 60 * 60_000;

/** Default block after a usage limit or auth error with no better deadline. */
export const DEFAULT_BLOCK_MS = 60_000;

/**
 * Why a block was set. Only `usage` blocks (deadline derived from a usage report by this process) are
 * lifted early by a fresh report that shows the limit no longer exhausted.
 */
export type BlockKind = "usage" | "retry-after" | "refresh" | "suspect";

interface BlockEntry {
	credentialId: number;
	providerKey: string;
	scope: string;
	blockedUntil: number;
	updatedAt: number;
	kind: BlockKind;
	/** The deadline as the store holds it (before any clock-step rebase), to recognise it on reload. */
	storedUntil: number;
}

function entryKey(credentialId: number, providerKey: string, scope: string): string {
	return `${credentialId}\0${providerKey}\0${scope}`;
}

/** `provider:type`, the bucket blocks and round-robin counters live in. */
export function providerTypeKey(provider: string, type: string): string {
	return `${provider}:${type}`;
}

export interface CredentialBlocksOptions {
	store: AuthCredentialStore;
	clock: Clock;
	logger: Logger;
	/** @default MAX_BLOCK_MS */
	maxBlockMs?: number;
	/**
	 * Called after the effective block set changed: a block set or extended, lifted, noticed expired, or
	 * learned from the store (a peer). Must not throw (it is called synchronously from reads too).
	 */
	onChange?: (reason: string) => void;
}

/** In-memory mirror of the store's blocks with max-merge, a cap and early healing. */
export class CredentialBlocks {
	readonly #entries = new Map<string, BlockEntry>();
	readonly #store: AuthCredentialStore;
	readonly #clock: Clock;
	readonly #logger: Logger;
	readonly #maxBlockMs: number;
	readonly #onChange: (reason: string) => void;

	constructor(options: CredentialBlocksOptions) {
		this.#store = options.store;
		this.#clock = options.clock;
		this.#logger = options.logger;
		this.#maxBlockMs = options.maxBlockMs ?? MAX_BLOCK_MS;
		this.#onChange = options.onChange ?? (() => {});
	}

	#version = 0;

	/** Changes whenever a block is added, lengthened, lifted or noticed expired. */
	get version(): number {
		return this.#version;
	}

	#changed(reason: string): void {
		this.#version += 1;
		try {
			this.#onChange(reason);
		} catch {
			// A listener failure must not break the read or write that noticed the change.
		}
	}

	/** The live entry under `key`; an expired one is dropped (and reported as a change) once noticed. */
	#live(key: string, now: number): BlockEntry | undefined {
		const entry = this.#entries.get(key);
		if (!entry) return undefined;
		if (now < entry.updatedAt) {
			// The wall clock stepped back past the block's write: a block never has more left than it was
			// set for (a 60 s block must not become 61 minutes), so it restarts its duration from now at most.
			entry.blockedUntil = now + Math.max(0, entry.blockedUntil - entry.updatedAt);
			entry.updatedAt = now;
		}
		if (entry.blockedUntil > now) return entry;
		this.#entries.delete(key);
		this.#changed("block-expired");
		return undefined;
	}

	/**
	 * Replace the mirror with what the store holds. Kinds known locally survive (the store does not
	 * keep them). A block learned from a peer is never healed early: it may be the peer's back-off after a
	 * transient refresh failure or a provider's retry-after, and lifting it would retry what the peer
	 * deliberately paused; it simply runs out at its deadline.
	 */
	replaceAll(blocks: readonly CredentialBlock[]): void {
		const previous = new Map(this.#entries);
		const now = this.#clock.now();
		this.#entries.clear();
		let changed = false;
		for (const block of blocks) {
			// Expired rows a store has not purged yet are not blocks; adopting them would only re-notice them.
			if (block.blockedUntil <= now) continue;
			const key = entryKey(block.credentialId, block.providerKey, block.scope);
			const before = previous.get(key);
			if (before && before.storedUntil === block.blockedUntil) {
				// Unchanged in the store: keep our view of it (its kind, and any clock-step rebase).
				this.#entries.set(key, before);
				continue;
			}
			changed = true;
			this.#entries.set(key, {
				credentialId: block.credentialId,
				providerKey: block.providerKey,
				scope: block.scope,
				blockedUntil: block.blockedUntil,
				updatedAt: block.updatedAt,
				kind: previous.get(key)?.kind ?? "retry-after",
				storedUntil: block.blockedUntil,
			});
		}
		// A dropped entry is a lifted block, or an expired one noticed only now: both are changes.
		for (const key of previous.keys()) {
			if (!this.#entries.has(key)) changed = true;
		}
		if (changed) this.#changed("blocks-reloaded");
	}

	/**
	 * When the row unblocks for a request in `scope`: the later of its whole-credential block and its
	 * block in that scope; `undefined` when usable now.
	 */
	blockedUntil(credentialId: number, providerKey: string, scope = ""): number | undefined {
		const now = this.#clock.now();
		let until: number | undefined;
		const whole = this.#live(entryKey(credentialId, providerKey, ""), now);
		if (whole) until = whole.blockedUntil;
		if (scope !== "") {
			const scoped = this.#live(entryKey(credentialId, providerKey, scope), now);
			if (scoped && (until === undefined || scoped.blockedUntil > until)) {
				until = scoped.blockedUntil;
			}
		}
		return until;
	}

	isBlocked(credentialId: number, providerKey: string, scope = ""): boolean {
		return this.blockedUntil(credentialId, providerKey, scope) !== undefined;
	}

	/**
	 * Block a row until `until` (capped, max-merged). Memory is updated before this returns its
	 * promise, so the caller's very next selection already skips the row; the promise settles once
	 * the store has it (store failures are logged, the in-memory block stays).
	 */
	block(
		credentialId: number,
		providerKey: string,
		until: number,
		options: { scope?: string; kind?: BlockKind } = {},
	): Promise<number> {
		const now = this.#clock.now();
		const scope = options.scope ?? "";
		const capped = Math.min(until, now + this.#maxBlockMs);
		const key = entryKey(credentialId, providerKey, scope);
		const existing = this.#entries.get(key);
		const live = existing && existing.blockedUntil > now ? existing : undefined;
		const blockedUntil = Math.max(capped, live?.blockedUntil ?? 0);
		const kind = options.kind ?? "retry-after";
		this.#entries.set(key, {
			credentialId,
			providerKey,
			scope,
			blockedUntil,
			updatedAt: now,
			// A refresh-failure block must never be healed by a usage report, whoever extended it.
			kind: live?.kind === "refresh" || kind === "refresh" ? "refresh" : kind,
			storedUntil: blockedUntil,
		});
		if (!live || live.blockedUntil !== blockedUntil) this.#changed("block-set");
		return this.#store.blocks.upsert({ credentialId, providerKey, scope, blockedUntil }).then(
			(effective) => {
				const current = this.#entries.get(key);
				if (current) current.storedUntil = effective.blockedUntil;
				if (current && effective.blockedUntil > current.blockedUntil) {
					current.blockedUntil = effective.blockedUntil;
					this.#changed("block-extended");
				}
				return Math.max(effective.blockedUntil, blockedUntil);
			},
			(error: unknown) => {
				this.#logger.warn("could not persist credential block", {
					credentialId,
					providerKey,
					error: redactString(errorMessage(error)),
				});
				return blockedUntil;
			},
		);
	}

	/**
	 * Lift usage blocks of a row early because a report fetched at `reportFetchedAt` shows the limit
	 * is no longer exhausted. Blocks set after the report, and refresh/suspect/retry-after blocks,
	 * stay. Returns whether anything was lifted.
	 */
	async heal(credentialId: number, providerKey: string, scope: string, reportFetchedAt: number): Promise<boolean> {
		const keys = scope === "" ? [""] : ["", scope];
		let lifted = false;
		for (const candidate of keys) {
			const key = entryKey(credentialId, providerKey, candidate);
			const entry = this.#entries.get(key);
			if (entry?.kind !== "usage" || entry.updatedAt > reportFetchedAt) continue;
			this.#entries.delete(key);
			lifted = true;
			this.#changed("block-lifted");
			await this.#deleteFromStore(credentialId, candidate);
		}
		return lifted;
	}

	/** Drop every block of a row (reset credit redeemed, row removed). */
	async clear(credentialId: number): Promise<void> {
		let lifted = false;
		for (const [key, entry] of this.#entries) {
			if (entry.credentialId === credentialId) {
				this.#entries.delete(key);
				lifted = true;
			}
		}
		if (lifted) this.#changed("blocks-cleared");
		await this.#deleteFromStore(credentialId);
	}

	/** Unexpired blocks of one row (or all), for snapshots and diagnostics. */
	list(credentialId?: number): CredentialBlock[] {
		const now = this.#clock.now();
		const out: CredentialBlock[] = [];
		for (const [key, entry] of [...this.#entries]) {
			if (!this.#live(key, now)) continue;
			if (credentialId !== undefined && entry.credentialId !== credentialId) continue;
			out.push({
				credentialId: entry.credentialId,
				providerKey: entry.providerKey,
				scope: entry.scope,
				blockedUntil: entry.blockedUntil,
				updatedAt: entry.updatedAt,
			});
		}
		out.sort(
			(a, b) =>
				a.providerKey.localeCompare(b.providerKey) || a.scope.localeCompare(b.scope) || a.blockedUntil - b.blockedUntil,
		);
		return out;
	}

	async #deleteFromStore(credentialId: number, scope?: string): Promise<void> {
		try {
			await this.#store.blocks.delete(credentialId, scope);
		} catch (error) {
			this.#logger.warn("could not delete credential block", {
				credentialId,
				error: redactString(errorMessage(error)),
			});
		}
	}
}
