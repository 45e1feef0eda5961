/**
 * Argument schemas of the public `AuthStorage` methods. Failures become `INVALID_INPUT` naming the
 * argument and the problem, never the value (zod issue messages do not echo input).
 */
import { z } from "zod";
import { AuthpoolError } from "../errors";
import { plainCopy, storeInputSchemas } from "../store/store-input";
import type { AuthCredential } from "../types";
import { PROVIDER_ID_PATTERN } from "./provider-id";

export { PROVIDER_ID_PATTERN };

/** Longest accepted session id, in UTF-16 code units (1 KiB). */
export const MAX_SESSION_ID_LENGTH = 1024;

const signal = z.custom<AbortSignal>((v) => v instanceof AbortSignal, "must be an AbortSignal");
const func = z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", "must be a function");
const modelId = z.string().min(1).max(MAX_SESSION_ID_LENGTH);
const baseUrl = z.string().min(1).max(8192);

/** Shared schemas for `AuthStorage` arguments. */
export const inputSchemas = {
	provider: z.string().regex(PROVIDER_ID_PATTERN, "must be a provider id ([a-z0-9][a-z0-9._-]{0,63})"),
	sessionId: z.string().min(1).max(MAX_SESSION_ID_LENGTH).optional(),
	modelId: modelId.optional(),
	apiKey: z.string().min(1).max(65_536),
	credentialId: z.number().int().safe(),
	position: z.number().int().nonnegative().safe(),
	cause: z.string().min(1).max(1024),
	signal: signal.optional(),
	listener: func,
	fallback: func.optional(),
	selection: z.looseObject({
		modelId: modelId.optional(),
		baseUrl: baseUrl.optional(),
		signal: signal.optional(),
		forceRefresh: z.boolean().optional(),
		rejectedKey: z.string().max(65_536).optional(),
	}),
	markUsageLimit: z.looseObject({
		retryAfterMs: z.number().optional(),
		apiKey: z.string().optional(),
		modelId: modelId.optional(),
		baseUrl: baseUrl.optional(),
		signal: signal.optional(),
	}),
	rotate: z.looseObject({ apiKey: z.string().optional(), modelId: modelId.optional(), signal: signal.optional() }),
	invalidate: z.union([
		signal,
		z.looseObject({
			sessionId: z.string().min(1).max(MAX_SESSION_ID_LENGTH).optional(),
			signal: signal.optional(),
		}),
	]),
	resolver: z.looseObject({
		sessionId: z.string().min(1).max(MAX_SESSION_ID_LENGTH).optional(),
		modelId: modelId.optional(),
		baseUrl: baseUrl.optional(),
	}),
	usageFetch: z.looseObject({ baseUrlResolver: func.optional(), signal: signal.optional() }),
	usageInvalidate: z.looseObject({
		provider: z.string().regex(PROVIDER_ID_PATTERN).optional(),
		signal: signal.optional(),
	}),
	headers: z.record(z.string(), z.string()),
	observe: z.looseObject({
		sessionId: z.string().min(1).max(MAX_SESSION_ID_LENGTH).optional(),
		baseUrl: baseUrl.optional(),
		recordedAt: z.number().finite().optional(),
	}),
	costUsd: z.number().finite(),
	historyQuery: z.looseObject({ provider: z.string().optional(), sinceMs: z.number().finite().optional() }),
	check: z.looseObject({
		signal: signal.optional(),
		timeoutMs: z.number().int().positive().optional(),
		provider: z.string().regex(PROVIDER_ID_PATTERN).optional(),
		baseUrlResolver: func.optional(),
		completionProbe: func.optional(),
		completionTimeoutMs: z.number().int().positive().optional(),
	}),
	resetList: z.looseObject({
		provider: z.string().regex(PROVIDER_ID_PATTERN).optional(),
		sessionId: z.string().min(1).max(MAX_SESSION_ID_LENGTH).optional(),
		baseUrlResolver: func.optional(),
		signal: signal.optional(),
	}),
	resetRedeem: z.looseObject({
		target: z.looseObject({
			credentialId: z.number().int().safe().optional(),
			accountId: z.string().optional(),
			email: z.string().optional(),
		}),
		provider: z.string().regex(PROVIDER_ID_PATTERN).optional(),
		creditId: z.string().min(1).optional(),
		baseUrlResolver: func.optional(),
		signal: signal.optional(),
	}),
	loginCallbacks: z.looseObject({ signal: signal.optional() }),
	blockById: z.looseObject({
		providerKey: z.string().min(1).max(256),
		scope: z.string().max(256).optional(),
		blockedUntil: z.number().finite(),
	}),
	accountSelection: z.enum(["balanced", "fixed"]),
	accountPriority: storeInputSchemas.providerSettings.shape.accountPriority,
	accountReserve: z.object({
		reservePct: z.number().min(0).max(100).optional(),
		reclaimAbovePct: z.number().min(0).max(100).optional(),
	}),
	requiredSessionId: z.string().min(1).max(MAX_SESSION_ID_LENGTH),
	request: func,
	withAuth: z.looseObject({
		sessionId: z.string().min(1).max(MAX_SESSION_ID_LENGTH).optional(),
		modelId: modelId.optional(),
		baseUrl: baseUrl.optional(),
		signal: signal.optional(),
		maxAttempts: z.number().int().min(1).max(32).optional(),
	}),
};

/**
 * Check one argument; `undefined` passes when `optional`.
 * @throws AuthpoolError `INVALID_INPUT` naming `name` (never echoing the value).
 */
export function checkArg<T>(name: string, schema: z.ZodType<T>, value: unknown, optional = false): T {
	if (optional && value === undefined) return value as T;
	const result = schema.safeParse(value);
	if (result.success) return value as T;
	const issues = result.error.issues.map((issue) =>
		issue.path.length > 0 ? `${issue.path.map(String).join(".")}: ${issue.message}` : issue.message,
	);
	throw new AuthpoolError("INVALID_INPUT", `Invalid argument ${name}: ${issues.join("; ")}`, {
		details: { argument: name, issues },
	});
}

/**
 * Snapshot a credential once (plain copy, no `toJSON`) and validate that copy; the copy is what gets
 * stored.
 * @throws AuthpoolError `INVALID_INPUT`
 */
export function checkCredential(name: string, value: unknown): AuthCredential {
	if (typeof value !== "object" || value === null || Array.isArray(value)) {
		throw new AuthpoolError("INVALID_INPUT", `Invalid argument ${name}: must be a credential object`, {
			details: { argument: name },
		});
	}
	const copy = plainCopy(value);
	checkArg(name, storeInputSchemas.credential, copy);
	return copy as AuthCredential;
}

/**
 * Provider id check with a plain-regex fast path (it runs on every request); zod only builds the error.
 * @throws AuthpoolError `INVALID_INPUT`
 */
export function checkProviderId(value: unknown, name = "provider"): void {
	if (typeof value === "string" && PROVIDER_ID_PATTERN.test(value)) return;
	checkArg(name, inputSchemas.provider, value);
}

/**
 * Optional session id check (non-empty string of at most 1 KiB) with a fast path.
 * @throws AuthpoolError `INVALID_INPUT`
 */
export function checkSessionId(value: unknown, name = "sessionId"): void {
	if (value === undefined) return;
	if (typeof value === "string" && value.length > 0 && value.length <= MAX_SESSION_ID_LENGTH) return;
	checkArg(name, inputSchemas.sessionId, value);
}

function optionalString(value: unknown, max: number): boolean {
	return value === undefined || (typeof value === "string" && value.length > 0 && value.length <= max);
}

/**
 * Optional per-request `SelectionOptions` check with a fast path for the common shapes.
 * @throws AuthpoolError `INVALID_INPUT`
 */
export function checkSelectionOptions(value: unknown, name = "options"): void {
	if (value === undefined) return;
	if (typeof value === "object" && value !== null && !Array.isArray(value)) {
		const { modelId, baseUrl, signal, forceRefresh, rejectedKey } = value as Record<string, unknown>;
		if (
			(rejectedKey === undefined || (typeof rejectedKey === "string" && rejectedKey.length <= 65_536)) &&
			optionalString(modelId, MAX_SESSION_ID_LENGTH) &&
			optionalString(baseUrl, 8192) &&
			(signal === undefined || signal instanceof AbortSignal) &&
			(forceRefresh === undefined || typeof forceRefresh === "boolean")
		) {
			return;
		}
	}
	checkArg(name, inputSchemas.selection, value);
}
