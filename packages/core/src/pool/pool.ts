/**
 * The in-memory credential set: active rows by provider (stable id order), the generation counter,
 * change polling (one O(1) `changes.revision()` per request; rows and blocks are re-read only when
 * it moved) and duplicate pruning on reload.
 */

import { errorMessage } from "../refresh/classify";
import type { CredentialBlocks } from "../selection/blocks";
import { type AuthCredentialStore, type ProviderSettings, REPLACED_BY_NEWER } from "../store/store";
import type { CredentialType, Logger, StoredAuthCredential } from "../types";
import { redactString } from "../util/redact";
import type { GenerationCounter } from "./events";
import { credentialIdentityKey } from "./identity";

export interface CredentialPoolOptions {
	store: AuthCredentialStore;
	logger: Logger;
	generation: GenerationCounter;
	blocks: CredentialBlocks;
	/** Receives every provider's stored settings on each reload (account priority). */
	onSettings?: (settings: Record<string, ProviderSettings>) => void;
}

/** Cache key of a provider's settings on a store without the `settings` capability. */
export function providerSettingsCacheKey(provider: string): string {
	return `settings:${provider}`;
}

const EMPTY: readonly StoredAuthCredential[] = Object.freeze([]);

function byId(a: StoredAuthCredential, b: StoredAuthCredential): number {
	return a.id - b.id;
}

/** Active rows of every provider, kept current with the store. */
export class CredentialPool {
	readonly #store: AuthCredentialStore;
	readonly #logger: Logger;
	readonly #generation: GenerationCounter;
	readonly #blocks: CredentialBlocks;
	readonly #onSettings: ((settings: Record<string, ProviderSettings>) => void) | undefined;
	readonly #byId = new Map<number, StoredAuthCredential>();
	// provider → rows; `provider\0type` → rows of that type. Rebuilt lazily after a change.
	#byProvider = new Map<string, StoredAuthCredential[]>();
	readonly #byType = new Map<string, readonly StoredAuthCredential[]>();
	#revision: number | undefined;
	#loaded = false;
	#reloading: Promise<void> | undefined;
	#reloadAgain = false;

	constructor(options: CredentialPoolOptions) {
		this.#store = options.store;
		this.#logger = options.logger;
		this.#generation = options.generation;
		this.#blocks = options.blocks;
		this.#onSettings = options.onSettings;
	}

	get loaded(): boolean {
		return this.#loaded;
	}

	/**
	 * Make sure the view is current: one revision check; re-read rows and blocks only when it moved.
	 * Concurrent callers share one reload.
	 */
	async sync(observed?: number | Promise<number>): Promise<void> {
		if (this.#reloading) return this.#reloading;
		const revision = await (observed ?? this.#store.changes.revision());
		if (revision === this.#revision && this.#loaded) return;
		if (this.#reloading) return this.#reloading;
		return this.#startReload();
	}

	/**
	 * The hot path's change check, synchronous when the store's is: `current` when the loaded view is up
	 * to date. The observed revision comes back for `sync(observed)`, so a request that goes on to the full
	 * path still makes exactly one change check.
	 */
	checkCurrent(): { current: boolean; observed?: number | Promise<number> } {
		if (!this.#loaded || this.#reloading) return { current: false };
		const observed = this.#store.changes.revision();
		return { current: observed === this.#revision, observed };
	}

	/** Re-read rows and blocks now (after our own writes, or on request). */
	reload(): Promise<void> {
		if (this.#reloading) {
			// A reload already running may have read before the caller's write; run one more after it.
			this.#reloadAgain = true;
			return this.#reloading;
		}
		return this.#startReload();
	}

	#startReload(): Promise<void> {
		const run = (async () => {
			try {
				do {
					this.#reloadAgain = false;
					await this.#load();
				} while (this.#reloadAgain);
			} finally {
				this.#reloading = undefined;
			}
		})();
		this.#reloading = run;
		return run;
	}

	async #load(): Promise<void> {
		const revision = await this.#store.changes.revision();
		const rows = await this.#store.rows.listActive();
		const kept = await this.#pruneDuplicates(rows);
		const blocks = await this.#store.blocks.list();
		const settings = this.#onSettings ? await this.#readSettings(kept) : undefined;
		this.#blocks.replaceAll(blocks);
		this.#replaceAll(kept);
		if (settings) this.#onSettings?.(settings);
		this.#revision = revision;
		this.#loaded = true;
	}

	async #readSettings(rows: readonly StoredAuthCredential[]): Promise<Record<string, ProviderSettings>> {
		if (this.#store.settings) return this.#store.settings.list();
		const out: Record<string, ProviderSettings> = Object.create(null);
		for (const provider of new Set(rows.map((row) => row.provider))) {
			const raw = await this.#store.cache.get(providerSettingsCacheKey(provider));
			if (!raw) continue;
			try {
				out[provider] = JSON.parse(raw) as ProviderSettings;
			} catch {
				// Corrupt settings are no settings.
			}
		}
		return out;
	}

	/** Same account twice (same identity key): keep the newest row, soft-disable the others. */
	async #pruneDuplicates(rows: StoredAuthCredential[]): Promise<StoredAuthCredential[]> {
		const newest = new Map<string, StoredAuthCredential>();
		const duplicates: StoredAuthCredential[] = [];
		for (const row of [...rows].sort(byId).reverse()) {
			if (row.credential.type !== "oauth") continue;
			const identity = row.identityKey ?? credentialIdentityKey(row.provider, row.credential);
			if (!identity) continue;
			const key = `${row.provider}\0${identity}`;
			if (newest.has(key)) duplicates.push(row);
			else newest.set(key, row);
		}
		if (duplicates.length === 0) return rows;
		const dropped = new Set<number>();
		for (const row of duplicates) {
			try {
				const result = await this.#store.rows.compareAndDisable(row.id, row.version, REPLACED_BY_NEWER);
				// A lost CAS means someone rewrote the row meanwhile; leave it out of this view anyway,
				// the next revision change brings back whatever is true.
				dropped.add(row.id);
				if (result.ok) this.#logger.info("pruned duplicate credential", { provider: row.provider, id: row.id });
			} catch (error) {
				this.#logger.warn("could not prune duplicate credential", {
					provider: row.provider,
					id: row.id,
					error: redactString(errorMessage(error)),
				});
				dropped.add(row.id);
			}
		}
		// A lifecycle replacement leaves no tombstone.
		if (this.#store.rows.purgeDisabled) {
			try {
				await this.#store.rows.purgeDisabled({ causes: [REPLACED_BY_NEWER], exceptIds: [] });
			} catch (error) {
				this.#logger.warn("could not purge replaced duplicates", { error: redactString(errorMessage(error)) });
			}
		}
		return rows.filter((row) => !dropped.has(row.id));
	}

	#replaceAll(rows: StoredAuthCredential[]): void {
		let changed = rows.length !== this.#byId.size;
		const next = new Map<number, StoredAuthCredential>();
		for (const row of rows) {
			const current = this.#byId.get(row.id);
			// A reload that read before one of our own writes must not roll the row back.
			const chosen = current && current.version > row.version ? current : row;
			if (!current || current.version !== chosen.version || current.provider !== chosen.provider) changed = true;
			next.set(row.id, chosen);
		}
		if (!changed) {
			for (const id of this.#byId.keys()) {
				if (!next.has(id)) {
					changed = true;
					break;
				}
			}
		}
		if (!changed) return;
		this.#byId.clear();
		for (const [id, row] of next) this.#byId.set(id, row);
		this.#rebuild();
		this.#generation.bump("reload");
	}

	#rebuild(): void {
		const byProvider = new Map<string, StoredAuthCredential[]>();
		for (const row of this.#byId.values()) {
			const list = byProvider.get(row.provider);
			if (list) list.push(row);
			else byProvider.set(row.provider, [row]);
		}
		for (const list of byProvider.values()) list.sort(byId);
		this.#byProvider = byProvider;
		this.#byType.clear();
	}

	/** Active rows of a provider (optionally of one type), ascending id. Memory only. */
	rows(provider: string, type?: CredentialType): readonly StoredAuthCredential[] {
		const all = this.#byProvider.get(provider);
		if (!all) return EMPTY;
		if (!type) return all;
		const key = `${provider}\0${type}`;
		let typed = this.#byType.get(key);
		if (!typed) {
			typed = all.filter((row) => row.credential.type === type);
			this.#byType.set(key, typed);
		}
		return typed;
	}

	/** Every active row, ascending id. */
	allRows(): StoredAuthCredential[] {
		return [...this.#byId.values()].sort(byId);
	}

	/** Providers with at least one active row. */
	providers(): string[] {
		return [...this.#byProvider.keys()].sort();
	}

	get(id: number): StoredAuthCredential | undefined {
		return this.#byId.get(id);
	}

	/** Adopt a newer version of a row (our write or a peer's); older versions are ignored. */
	upsert(row: StoredAuthCredential): void {
		if (row.disabledCause !== null) {
			this.remove(row.id);
			return;
		}
		const current = this.#byId.get(row.id);
		// Same version with another credential: a view the store does not hold (a broker's refresh result,
		// or a rotation the refresher could not persist yet) — newer than what was loaded, so it is kept.
		if (current && (current.version > row.version || (current.version === row.version && sameCredential(current, row))))
			return;
		this.#byId.set(row.id, row);
		this.#rebuild();
		this.#generation.bump(current ? "row-updated" : "row-added");
	}

	/** Drop a row from the view (disabled or removed). */
	remove(id: number): void {
		if (!this.#byId.delete(id)) return;
		this.#rebuild();
		this.#generation.bump("row-removed");
	}

	/** After a transactional write of a provider's rows: that provider now has exactly `rows`. */
	replaceProvider(provider: string, rows: readonly StoredAuthCredential[]): void {
		for (const row of this.rows(provider)) this.#byId.delete(row.id);
		for (const row of rows) if (row.disabledCause === null) this.#byId.set(row.id, row);
		this.#rebuild();
		this.#generation.bump("provider-replaced");
	}
}

function sameCredential(a: StoredAuthCredential, b: StoredAuthCredential): boolean {
	if (a.credential === b.credential) return true;
	if (a.credential.type !== "oauth" || b.credential.type !== "oauth") return a.credential.type === b.credential.type;
	return a.credential.access === b.credential.access && a.credential.expires === b.credential.expires;
}
