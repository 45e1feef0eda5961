/**
 * Account policies per provider (docs/selection.md "Policies"): the selection mode (`balanced` or
 * `fixed`), the account priority (persisted in the store, shared by every instance), the reserve and
 * reclaim lines. Priority ranks are resolved once per row set and selector list, never per call.
 */
import { AuthpoolError } from "../errors";
import type { ProviderRegistry } from "../plugin";
import type { ProviderSettings } from "../store/store";
import type { StoredAuthCredential } from "../types";

/** How a provider's fresh sessions and session-less calls pick an account. */
export type AccountSelectionMode = "balanced" | "fixed";

/** A provider's policy as options (`AuthStorageOptions.accountPolicies`). */
export interface AccountPolicyOptions {
	/** @default "balanced" */
	accountSelection?: AccountSelectionMode;
	/**
	 * Headroom (percent of the tightest window left, 0–100) below which an account is used only when every
	 * sibling is below it too. @default 0 (no reserve)
	 */
	reservePct?: number;
	/**
	 * A session pushed to a lower-priority account returns to a higher-priority one whose headroom is at or
	 * above this line (0–100, above `reservePct`). Needs a usage provider. @default undefined (never)
	 */
	reclaimAbovePct?: number;
}

/** The effective policy of a provider (`AuthStorage.getAccountPolicy`). */
export interface AccountPolicy {
	accountSelection: AccountSelectionMode;
	reservePct: number;
	reclaimAbovePct?: number;
	/** Selectors in priority order, as set (row id, account id or email). */
	accountPriority: Array<number | string>;
}

/** Near-tie tolerance of balanced selection: accounts within this many headroom points share new sessions. */
export const NEAR_TIE_HEADROOM_PCT = 5;

interface PolicyState {
	mode: AccountSelectionMode;
	reservePct: number;
	reclaimAbovePct: number | undefined;
	priority: Array<number | string>;
	/** Bumped on every priority change: invalidates resolved ranks. */
	version: number;
}

interface ResolvedRanks {
	rows: readonly StoredAuthCredential[];
	version: number;
	ranks: Map<number, number>;
	/** Rows in priority order (ranked first by rank, then unlisted by id). */
	ordered: readonly StoredAuthCredential[];
	/** Lowest rank present (`Infinity` when none is ranked). */
	best: number;
}

/** Does `selector` name this row? A number is a row id; a string an account id, an email or a row id. */
export function selectorMatches(selector: number | string, row: StoredAuthCredential): boolean {
	if (typeof selector === "number") return row.id === selector;
	if (String(row.id) === selector) return true;
	const credential = row.credential;
	if (credential.type !== "oauth") return false;
	if (credential.accountId !== undefined && credential.accountId === selector) return true;
	return typeof credential.email === "string" && credential.email.toLowerCase() === selector.toLowerCase();
}

function checkPct(name: string, value: unknown): void {
	if (value === undefined) return;
	if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 100) {
		throw new AuthpoolError("INVALID_INPUT", `${name} must be a number from 0 to 100`);
	}
}

/** Per-provider policies; priority ranks cached by row-array identity. */
export class AccountPolicies {
	readonly #registry: ProviderRegistry;
	readonly #defaults: AccountPolicyOptions;
	readonly #byProvider = new Map<string, PolicyState>();
	// `provider\0type` → resolved ranks for the row array the pool handed out last.
	readonly #resolved = new Map<string, ResolvedRanks>();

	constructor(
		registry: ProviderRegistry,
		defaults: AccountPolicyOptions,
		perProvider: Record<string, AccountPolicyOptions>,
	) {
		this.#registry = registry;
		AccountPolicies.validate("accountPolicies", defaults, undefined);
		this.#defaults = defaults;
		for (const [provider, options] of Object.entries(perProvider)) {
			AccountPolicies.validate(
				`accountPolicies.${provider}`,
				options,
				registry.get(provider) ? registry : undefined,
				provider,
			);
			this.#state(provider);
			this.#apply(provider, options);
		}
	}

	/**
	 * Validate reserve/reclaim: 0–100, reclaim above reserve, reclaim only with a usage provider.
	 * @throws AuthpoolError `INVALID_INPUT`
	 */
	static validate(
		subject: string,
		options: AccountPolicyOptions,
		registry: ProviderRegistry | undefined,
		provider?: string,
	): void {
		const mode = options.accountSelection;
		if (mode !== undefined && mode !== "balanced" && mode !== "fixed") {
			throw new AuthpoolError("INVALID_INPUT", `${subject}.accountSelection must be "balanced" or "fixed"`);
		}
		checkPct(`${subject}.reservePct`, options.reservePct);
		checkPct(`${subject}.reclaimAbovePct`, options.reclaimAbovePct);
		if (options.reclaimAbovePct !== undefined && options.reclaimAbovePct <= (options.reservePct ?? 0)) {
			throw new AuthpoolError("INVALID_INPUT", `${subject}.reclaimAbovePct must be above reservePct`);
		}
		if (options.reclaimAbovePct !== undefined && provider !== undefined && !registry?.get(provider)?.usage) {
			throw new AuthpoolError(
				"INVALID_INPUT",
				`${subject}.reclaimAbovePct needs a usage provider: plugin ${provider} reports no usage, so headroom is never measured`,
			);
		}
	}

	#state(provider: string): PolicyState {
		let state = this.#byProvider.get(provider);
		if (!state) {
			state = {
				mode: this.#defaults.accountSelection ?? "balanced",
				reservePct: this.#defaults.reservePct ?? 0,
				reclaimAbovePct: undefined,
				priority: [],
				version: 0,
			};
			this.#byProvider.set(provider, state);
		}
		return state;
	}

	#apply(provider: string, options: AccountPolicyOptions): void {
		const state = this.#state(provider);
		if (options.accountSelection !== undefined) state.mode = options.accountSelection;
		if (options.reservePct !== undefined) state.reservePct = options.reservePct;
		if ("reclaimAbovePct" in options) state.reclaimAbovePct = options.reclaimAbovePct;
	}

	/** Changes whenever the provider's priority changes. */
	priorityVersion(provider: string): number {
		return this.#byProvider.get(provider)?.version ?? 0;
	}

	mode(provider: string): AccountSelectionMode {
		return this.#byProvider.get(provider)?.mode ?? this.#defaults.accountSelection ?? "balanced";
	}

	reservePct(provider: string): number {
		return this.#byProvider.get(provider)?.reservePct ?? this.#defaults.reservePct ?? 0;
	}

	reclaimAbovePct(provider: string): number | undefined {
		return this.#byProvider.get(provider)?.reclaimAbovePct;
	}

	setMode(provider: string, mode: AccountSelectionMode): void {
		AccountPolicies.validate("accountSelection", { accountSelection: mode }, this.#registry, provider);
		this.#state(provider).mode = mode;
	}

	/** Set reserve and reclaim together (validated against each other). */
	setReserve(provider: string, options: { reservePct?: number; reclaimAbovePct?: number }): void {
		const merged: AccountPolicyOptions = {
			reservePct: options.reservePct ?? this.reservePct(provider),
			...(options.reclaimAbovePct !== undefined ? { reclaimAbovePct: options.reclaimAbovePct } : {}),
		};
		AccountPolicies.validate("policy", merged, this.#registry, provider);
		const state = this.#state(provider);
		state.reservePct = merged.reservePct ?? 0;
		state.reclaimAbovePct = merged.reclaimAbovePct;
	}

	/** The priority from the store (or a local change): selectors in order. */
	setPriority(provider: string, selectors: ReadonlyArray<number | string>): void {
		const state = this.#state(provider);
		const same =
			state.priority.length === selectors.length && state.priority.every((value, i) => value === selectors[i]);
		if (same) return;
		state.priority = [...selectors];
		state.version += 1;
	}

	/** Adopt every provider's stored settings (a reload); providers absent from the store lose their priority. */
	adoptStored(settings: Record<string, ProviderSettings>): void {
		for (const [provider, state] of this.#byProvider) {
			if (!(provider in settings) && state.priority.length > 0) this.setPriority(provider, []);
		}
		for (const [provider, value] of Object.entries(settings)) this.setPriority(provider, value.accountPriority);
	}

	describe(provider: string): AccountPolicy {
		const policy: AccountPolicy = {
			accountSelection: this.mode(provider),
			reservePct: this.reservePct(provider),
			accountPriority: [...(this.#byProvider.get(provider)?.priority ?? [])],
		};
		const reclaim = this.reclaimAbovePct(provider);
		if (reclaim !== undefined) policy.reclaimAbovePct = reclaim;
		return policy;
	}

	/**
	 * Ranks of `rows` (1-based; unlisted rows have none) and the rows in priority order. Cached until the
	 * pool hands out another row array or the priority changes: O(1) per call on the hot path.
	 */
	resolve(provider: string, key: string, rows: readonly StoredAuthCredential[]): ResolvedRanks {
		const state = this.#byProvider.get(provider);
		const version = state?.version ?? 0;
		const cached = this.#resolved.get(key);
		if (cached && cached.rows === rows && cached.version === version) return cached;
		const ranks = new Map<number, number>();
		const selectors = state?.priority ?? [];
		let best = Number.POSITIVE_INFINITY;
		if (selectors.length > 0) {
			for (const row of rows) {
				for (let i = 0; i < selectors.length; i += 1) {
					if (selectorMatches(selectors[i]!, row)) {
						ranks.set(row.id, i + 1);
						if (i + 1 < best) best = i + 1;
						break;
					}
				}
			}
		}
		const ordered =
			ranks.size === 0
				? rows
				: [...rows].sort(
						(a, b) =>
							(ranks.get(a.id) ?? Number.POSITIVE_INFINITY) - (ranks.get(b.id) ?? Number.POSITIVE_INFINITY) ||
							a.id - b.id,
					);
		const resolved: ResolvedRanks = { rows, version, ranks, ordered, best };
		this.#resolved.set(key, resolved);
		return resolved;
	}
}

export type { ResolvedRanks };
