/**
 * Saved rate-limit resets (Codex "reset credits"): list every account's offers live through the
 * provider plugin, and redeem one for a chosen account — which lifts that row's blocks and drops its
 * cached usage, since its windows just reset.
 */
import { randomUUID } from "node:crypto";
import type { PluginContext, ProviderRegistry, ResetCredit, ResetCreditRedeemResult } from "../plugin";
import type { CredentialPool } from "../pool/pool";
import { errorMessage } from "../refresh/classify";
import type { CredentialBlocks } from "../selection/blocks";
import type { CredentialRotation } from "../selection/rotation";
import type { CredentialSelector } from "../selection/select";
import type { OAuthCredential } from "../types";
import { boundedCall, isAbortOrTimeout } from "../util/abort";
import { redactString } from "../util/redact";
import type { UsageService } from "./service";

/** Which stored account a reset credit is for; any one field is enough. */
export interface ResetCreditTarget {
	credentialId?: number;
	accountId?: string;
	email?: string;
}

/** One account's live saved-reset status. */
export interface ResetCreditAccountStatus {
	credentialId: number;
	accountId?: string;
	email?: string;
	availableCount: number;
	credits: ResetCredit[];
	/** This is the given session's current account. */
	active: boolean;
	error?: string;
}

/** Outcome of `redeemResetCredit` (`no_account`, `account_unavailable`, `no_credit` are local codes). */
export interface ResetCreditRedeemOutcome extends ResetCreditRedeemResult {
	accountId?: string;
	email?: string;
	creditId?: string;
}

export interface ResetCreditsOptions {
	pool: CredentialPool;
	registry: ProviderRegistry;
	rotation: CredentialRotation;
	selector: CredentialSelector;
	blocks: CredentialBlocks;
	usage: () => UsageService;
	pluginContext: (signal?: AbortSignal) => PluginContext;
	/** Bound of one plugin call (`list`, `redeem`). @default DEFAULT_PLUGIN_TIMEOUT_MS */
	timeoutMs?: number;
}

/** Default bound of one reset-credit plugin call. */
export const DEFAULT_PLUGIN_TIMEOUT_MS = 30_000;

/** Reset credits of a pool's accounts. */
export class ResetCredits {
	readonly #o: ResetCreditsOptions;

	constructor(options: ResetCreditsOptions) {
		this.#o = options;
	}

	/** Run a plugin call with the caller's signal and the timeout; the plugin sees the combined signal. */
	#call<T>(
		what: string,
		signal: AbortSignal | undefined,
		baseUrl: string | undefined,
		task: (ctx: PluginContext & { baseUrl?: string }) => Promise<T> | T,
	): Promise<T> {
		return boundedCall(this.#o.timeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS, what, signal, (bounded) =>
			task({ ...this.#o.pluginContext(bounded), ...(baseUrl ? { baseUrl } : {}) }),
		);
	}

	/** Saved rate-limit resets of every OAuth account of a provider (live, via `plugin.resetCredits`). */
	async list(options?: {
		provider?: string;
		sessionId?: string;
		baseUrlResolver?: (provider: string) => string | undefined;
		signal?: AbortSignal;
	}): Promise<ResetCreditAccountStatus[]> {
		const provider = options?.provider ?? "openai-codex";
		const plugin = this.#o.registry.get(provider)?.resetCredits;
		if (!plugin) return [];
		await this.#o.pool.sync();
		const current = await this.#o.rotation.currentRow(provider, options?.sessionId);
		const baseUrl = options?.baseUrlResolver?.(provider);
		return Promise.all(
			this.#o.pool.rows(provider, "oauth").map(async (row): Promise<ResetCreditAccountStatus> => {
				const credential = row.credential as OAuthCredential;
				const base: ResetCreditAccountStatus = {
					credentialId: row.id,
					availableCount: 0,
					credits: [],
					active: current?.id === row.id,
				};
				if (credential.accountId) base.accountId = credential.accountId;
				if (credential.email) base.email = credential.email;
				try {
					const fresh = await this.#o.selector.freshRow(row, { signal: options?.signal });
					const list = await this.#call("reset credit list", options?.signal, baseUrl, (ctx) =>
						plugin.list(fresh.credential as OAuthCredential, ctx),
					);
					if (!list) return { ...base, error: "Failed to load saved resets" };
					return { ...base, availableCount: list.availableCount, credits: list.credits };
				} catch (error) {
					if (isAbortOrTimeout(error)) throw error;
					return { ...base, error: redactString(errorMessage(error)) };
				}
			}),
		);
	}

	/** Spend one saved reset for an account; success lifts that row's blocks and drops its cached usage. */
	async redeem(options: {
		target: ResetCreditTarget;
		provider?: string;
		creditId?: string;
		baseUrlResolver?: (provider: string) => string | undefined;
		signal?: AbortSignal;
	}): Promise<ResetCreditRedeemOutcome> {
		const provider = options.provider ?? "openai-codex";
		const plugin = this.#o.registry.get(provider)?.resetCredits;
		await this.#o.pool.sync();
		const { target } = options;
		const row = this.#o.pool.rows(provider, "oauth").find((candidate) => {
			const credential = candidate.credential as OAuthCredential;
			return (
				(target.credentialId !== undefined && candidate.id === target.credentialId) ||
				(!!target.accountId && credential.accountId === target.accountId) ||
				(!!target.email && credential.email === target.email)
			);
		});
		if (!row || !plugin) return { ok: false, code: "no_account", accountId: target.accountId, email: target.email };
		const identity = {
			accountId: (row.credential as OAuthCredential).accountId,
			email: (row.credential as OAuthCredential).email,
		};
		let credential: OAuthCredential;
		try {
			credential = (await this.#o.selector.freshRow(row, { signal: options.signal })).credential as OAuthCredential;
		} catch {
			return { ok: false, code: "account_unavailable", ...identity };
		}
		const baseUrl = options.baseUrlResolver?.(provider);
		let creditId = options.creditId;
		if (!creditId) {
			const list = await this.#call("reset credit list", options.signal, baseUrl, (ctx) =>
				plugin.list(credential, ctx),
			);
			const credit = list?.credits.find((entry) => (entry.status ?? "available") === "available") ?? list?.credits[0];
			if (!credit) return { ok: false, code: "no_credit", ...identity };
			creditId = credit.id;
		}
		const chosen = creditId;
		const result = await this.#call("reset credit redeem", options.signal, baseUrl, (ctx) =>
			plugin.redeem(credential, chosen, { ...ctx, requestId: randomUUID() }),
		);
		if (result.ok) {
			await this.#o.usage().invalidate(row);
			await this.#o.blocks.clear(row.id);
		}
		return { ...result, ...identity, creditId };
	}
}
