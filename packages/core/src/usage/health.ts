/**
 * The credential health check (docs/provider-plugins.md "Usage model"): probe each stored row sequentially — refresh
 * expired OAuth first, then the provider's usage endpoint, then an optional caller-supplied
 * completion probe — and report `ok: true | false | null` with a reason that never holds a secret.
 */

import { AbortedError } from "../errors";
import type { ProviderRegistry } from "../plugin";
import { oauthIdentity } from "../pool/identity";
import { type Clock, REMOTE_REFRESH_SENTINEL, type StoredAuthCredential } from "../types";
import { raceSignal } from "../util/abort";
import { redactString } from "../util/redact";
import { stripRaw } from "./report";
import type { UsageService } from "./service";
import type { UsageReport } from "./types";

/** Outcome for one row. `ok: null` = could not be verified from here (see `reason`). */
export interface CredentialHealthResult {
	id: number;
	provider: string;
	type: "api_key" | "oauth";
	email?: string;
	accountId?: string;
	/** The refresh token lives on a broker (the row carries the remote sentinel). */
	remoteRefresh?: true;
	ok: boolean | null;
	/** Why `ok` is not `true`; never contains a secret. */
	reason?: string;
	/** The usage probe's report (without `raw`) when `ok` is `true`. */
	report?: Omit<UsageReport, "raw">;
	/** Present when a completion probe was supplied and the row got that far. */
	completion?: CredentialCompletionResult;
}

export interface CredentialCompletionResult {
	ok: boolean | null;
	reason?: string;
	modelId?: string;
	/** Measured with the injected clock. */
	latencyMs?: number;
}

/** Caller-supplied end-to-end check (e.g. a one-token completion) with the row's bearer bytes. */
export type CompletionProbe = (input: {
	provider: string;
	credentialId: number;
	credential:
		| { type: "api_key"; apiKey: string }
		| {
				type: "oauth";
				accessToken: string;
				accountId?: string;
				projectId?: string;
				email?: string;
				enterpriseUrl?: string;
				apiEndpoint?: string;
		  };
	signal: AbortSignal;
}) => Promise<{ ok: boolean | null; reason?: string; modelId?: string }>;

export interface CheckCredentialsOptions {
	/** Aborts the whole check (rejects with `AbortedError`). */
	signal?: AbortSignal;
	/** Bound of each row's refresh + usage probe. @default 10_000 */
	timeoutMs?: number;
	/** Only rows of this provider. */
	provider?: string;
	baseUrlResolver?: (provider: string) => string | undefined;
	completionProbe?: CompletionProbe;
	/** Bound of each completion probe. @default timeoutMs */
	completionTimeoutMs?: number;
	/** Called after each row; a throwing listener does not stop the check. */
	onProgress?: (done: number, total: number, result: CredentialHealthResult) => void;
}

export interface CheckCredentialsDeps {
	usage: UsageService;
	registry: ProviderRegistry;
	clock: Clock;
	/** Refresh an expired OAuth row (single-flight, persisted); returns the fresh row. */
	ensureFresh(row: StoredAuthCredential, signal?: AbortSignal): Promise<StoredAuthCredential>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Mask token-shaped text and the row's own secrets. */
function scrub(text: string, secrets: readonly string[]): string {
	let out = redactString(text);
	for (const secret of secrets) {
		if (secret.length >= 4) out = out.split(secret).join("[redacted]");
	}
	return out;
}

/** A reason safe to show: the error's message with secrets masked. */
function safeReason(prefix: string, error: unknown, secrets: readonly string[]): string {
	let detail: string;
	if (error instanceof Error) detail = error.message || error.name;
	else detail = typeof error === "string" ? error : "unknown error";
	return `${prefix}: ${scrub(detail, secrets)}`;
}

function secretsOf(row: StoredAuthCredential): string[] {
	const credential = row.credential;
	return credential.type === "api_key" ? [credential.key] : [credential.access, credential.refresh];
}

function str(value: unknown): string | undefined {
	return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

/** Abort when either the caller's signal or a per-step deadline fires. */
function stepSignal(outer: AbortSignal | undefined, timeoutMs: number): AbortSignal {
	const deadline = AbortSignal.timeout(timeoutMs);
	return outer ? AbortSignal.any([outer, deadline]) : deadline;
}

function probeCredential(row: StoredAuthCredential): Parameters<CompletionProbe>[0]["credential"] | null {
	const credential = row.credential;
	if (credential.type === "api_key") return credential.key ? { type: "api_key", apiKey: credential.key } : null;
	if (!credential.access) return null;
	// The refresh token is deliberately not handed to the probe: a chat call never needs it.
	const out: Parameters<CompletionProbe>[0]["credential"] = { type: "oauth", accessToken: credential.access };
	if (credential.accountId !== undefined) out.accountId = credential.accountId;
	if (credential.projectId !== undefined) out.projectId = credential.projectId;
	if (credential.email !== undefined) out.email = credential.email;
	if (credential.enterpriseUrl !== undefined) out.enterpriseUrl = credential.enterpriseUrl;
	if (credential.apiEndpoint !== undefined) out.apiEndpoint = credential.apiEndpoint;
	return out;
}

/**
 * Probe every row sequentially in stable id order (one at a time, so per-IP usage rate limits do not
 * see a burst). Expired OAuth rows are refreshed first; a refresh failure is `ok: false` and skips
 * both probes. The usage probe is a forced, fallback-free lookup: `ok: true` with the report,
 * `ok: false` when it fails, `ok: null` when no plugin can verify the credential.
 *
 * @throws AbortedError when `options.signal` aborts.
 */
export async function checkCredentials(
	rows: StoredAuthCredential[],
	deps: CheckCredentialsDeps,
	options: CheckCredentialsOptions = {},
): Promise<CredentialHealthResult[]> {
	const { signal } = options;
	const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
	const completionTimeoutMs = options.completionTimeoutMs ?? timeoutMs;
	const selected = rows
		.filter((row) => options.provider === undefined || row.provider === options.provider)
		.sort((a, b) => a.id - b.id);
	const results: CredentialHealthResult[] = [];
	for (const original of selected) {
		if (signal?.aborted) throw new AbortedError("credential check aborted by caller");
		const result = await checkOne(original, deps, options, timeoutMs, completionTimeoutMs);
		results.push(result);
		try {
			options.onProgress?.(results.length, selected.length, result);
		} catch {
			// A progress display failing must not abort the check.
		}
	}
	return results;
}

async function checkOne(
	original: StoredAuthCredential,
	deps: CheckCredentialsDeps,
	options: CheckCredentialsOptions,
	timeoutMs: number,
	completionTimeoutMs: number,
): Promise<CredentialHealthResult> {
	const { signal } = options;
	const result: CredentialHealthResult = {
		id: original.id,
		provider: original.provider,
		type: original.credential.type,
		ok: null,
	};
	let row = original;
	if (row.credential.type === "oauth") {
		const identity = oauthIdentity(row.credential);
		if (identity.email) result.email = identity.email;
		if (identity.accountId) result.accountId = identity.accountId;
		if (row.credential.refresh === REMOTE_REFRESH_SENTINEL) result.remoteRefresh = true;
		if (deps.clock.now() >= row.credential.expires) {
			const stepAbort = stepSignal(signal, timeoutMs);
			try {
				row = await raceSignal(deps.ensureFresh(row, stepAbort), stepAbort, "oauth refresh timed out");
			} catch (error) {
				if (signal?.aborted) throw new AbortedError("credential check aborted by caller");
				result.ok = false;
				result.reason = safeReason("oauth refresh failed", error, secretsOf(original));
				return result;
			}
		}
	}

	const baseUrl = options.baseUrlResolver?.(row.provider);
	const usage = deps.registry.get(row.provider)?.usage;
	if (!usage) {
		result.reason = `no usage probe configured for provider ${row.provider}`;
	} else if (!deps.usage.supports(row, baseUrl)) {
		result.reason = `usage probe does not support ${row.credential.type} credentials for ${row.provider}`;
	} else if (usage.validatesCredentials === false) {
		result.reason = `usage probe for ${row.provider} does not validate credentials`;
	} else {
		const stepAbort = stepSignal(signal, timeoutMs);
		try {
			const report = await deps.usage.getReport(row, {
				baseUrl,
				signal: stepAbort,
				forceRefresh: true,
				lastGoodFallback: false,
			});
			if (report) {
				result.ok = true;
				const accountId = str(report.metadata?.accountId);
				const email = str(report.metadata?.email);
				if (accountId) result.accountId = accountId;
				if (email) result.email = email;
				result.report = stripRaw(report);
			} else {
				result.ok = false;
				result.reason = "usage probe failed";
			}
		} catch (error) {
			if (signal?.aborted) throw new AbortedError("credential check aborted by caller");
			result.ok = false;
			result.reason = stepAbort.aborted
				? "usage probe timed out"
				: safeReason("usage probe failed", error, secretsOf(row));
		}
	}

	if (options.completionProbe) {
		result.completion = await runCompletionProbe(row, deps, options.completionProbe, signal, completionTimeoutMs);
	}
	return result;
}

async function runCompletionProbe(
	row: StoredAuthCredential,
	deps: CheckCredentialsDeps,
	probe: CompletionProbe,
	signal: AbortSignal | undefined,
	timeoutMs: number,
): Promise<CredentialCompletionResult> {
	const credential = probeCredential(row);
	if (!credential) return { ok: null, reason: `no bearer token available for this ${row.credential.type} credential` };
	const stepAbort = stepSignal(signal, timeoutMs);
	const startedAt = deps.clock.now();
	try {
		const outcome = await raceSignal(
			probe({ provider: row.provider, credentialId: row.id, credential, signal: stepAbort }),
			stepAbort,
			"completion probe timed out",
		);
		const completion: CredentialCompletionResult = {
			ok: outcome.ok,
			latencyMs: Math.max(0, deps.clock.now() - startedAt),
		};
		if (outcome.reason !== undefined) completion.reason = scrub(outcome.reason, secretsOf(row));
		if (outcome.modelId !== undefined) completion.modelId = outcome.modelId;
		return completion;
	} catch (error) {
		if (signal?.aborted) throw new AbortedError("credential check aborted by caller");
		return {
			ok: false,
			reason: stepAbort.aborted
				? "completion probe timed out"
				: safeReason("completion probe failed", error, secretsOf(row)),
			latencyMs: Math.max(0, deps.clock.now() - startedAt),
		};
	}
}
