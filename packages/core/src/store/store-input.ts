/**
 * Argument checks every store shares (the memory store, SQLite, and any third-party store), so bad
 * input is rejected the same way everywhere: `INVALID_INPUT` naming fields and problems, never values
 * (zod messages do not echo input, so a malformed credential cannot leak its secret into an error).
 */
import { z } from "zod";
import { AuthpoolError } from "../errors";
import { clientUsageQuerySchema, clientUsageReportSchema } from "../usage/client-usage";

const provider = z.string().trim().min(1);
const id = z.number().int().safe();

/** zod schemas for store-method arguments. */
export const storeInputSchemas = {
	provider,
	id,
	version: z.number().int(),
	cause: z.string().min(1),
	owner: z.string().min(1),
	ttl: z.number().finite().positive(),
	staleLease: z.object({ owner: z.string().min(1), beat: z.number().int() }),
	key: z.string(),
	finite: z.number().finite(),
	purgeFilter: z.object({
		provider: provider.optional(),
		identityKey: z.string().min(1).optional(),
		disabledBefore: z.number().finite().optional(),
		causes: z.array(z.string()).optional(),
		exceptCauses: z.array(z.string()).optional(),
		exceptIds: z.array(id).optional(),
	}),
	/** Provider settings: selectors are row ids or non-empty strings (account ids, emails). */
	providerSettings: z.object({
		accountPriority: z.array(z.union([z.number().int().safe().positive(), z.string().min(1).max(1024)])).max(1000),
	}),
	/** Unknown OAuth fields pass through (they round-trip). */
	credential: z.discriminatedUnion("type", [
		z.looseObject({ type: z.literal("api_key"), key: z.string().min(1) }),
		z.looseObject({
			type: z.literal("oauth"),
			access: z.string(),
			refresh: z.string(),
			expires: z.number().finite(),
		}),
	]),
	block: z.object({
		credentialId: id,
		providerKey: z.string().min(1),
		scope: z.string(),
		blockedUntil: z.number().finite(),
	}),
	blockFilter: z.object({ credentialId: id.optional(), providerKey: z.string().optional() }).optional(),
	usageEntries: z.array(
		z.looseObject({
			recordedAt: z.number().finite(),
			provider,
			accountKey: z.string().min(1),
			limitId: z.string().min(1),
			label: z.string(),
		}),
	),
	costEntries: z.array(
		z.looseObject({
			recordedAt: z.number().finite(),
			provider,
			accountKey: z.string().min(1),
			costUsd: z.number().finite(),
		}),
	),
	usageQuery: z.object({ provider: provider.optional(), sinceMs: z.number().finite().optional() }).optional(),
	costQuery: z
		.object({
			provider: provider.optional(),
			accountKey: z.string().optional(),
			sinceMs: z.number().finite().optional(),
		})
		.optional(),
	/** A client-observed usage report (bounded: at most 1,000 entries, counts ≤ 1e12). */
	clientUsageReport: clientUsageReportSchema,
	clientUsageQuery: clientUsageQuerySchema,
};

/**
 * Parse `value` or throw `AuthpoolError("INVALID_INPUT")` listing `path: message`.
 * @throws AuthpoolError `INVALID_INPUT`
 */
export function checkStoreInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
	const result = schema.safeParse(value);
	if (result.success) return result.data;
	const issues = result.error.issues.map(
		(issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`,
	);
	throw new AuthpoolError("INVALID_INPUT", `Invalid ${what}: ${issues.join("; ")}`, { details: { issues } });
}

const MAX_COPY_DEPTH = 32;

function copyValue(value: unknown, depth: number, seen: Set<object>): unknown {
	if (value === null || typeof value === "string" || typeof value === "boolean") return value;
	// JSON turns non-finite numbers into null; keep that so validation judges what a store would hold.
	if (typeof value === "number") return Number.isFinite(value) ? value : null;
	if (typeof value !== "object") {
		if (typeof value === "bigint") throw new AuthpoolError("INVALID_INPUT", "Invalid credential: holds a bigint");
		return undefined;
	}
	if (depth > MAX_COPY_DEPTH || seen.has(value)) {
		throw new AuthpoolError("INVALID_INPUT", "Invalid credential: too deep or cyclic");
	}
	if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
	seen.add(value);
	try {
		if (Array.isArray(value)) {
			return Array.from({ length: value.length }, (_, i) => copyValue(value[i], depth + 1, seen) ?? null);
		}
		const out: Record<string, unknown> = {};
		for (const key of Object.keys(value)) {
			// Each field is read exactly once, so a getter cannot show validation one value and the store another.
			const field = copyValue((value as Record<string, unknown>)[key], depth + 1, seen);
			if (field !== undefined)
				Object.defineProperty(out, key, { value: field, enumerable: true, writable: true, configurable: true });
		}
		return out;
	} finally {
		seen.delete(value);
	}
}

/**
 * A plain JSON-shaped copy of `value` that ignores every `toJSON` and reads each own enumerable field
 * once (functions and `undefined` dropped, non-finite numbers → `null`, as JSON would). Validate and
 * store this copy, never the original, so what was checked is what gets committed.
 * @throws AuthpoolError `INVALID_INPUT` for cycles, nesting deeper than 32, bigints, or a throwing getter.
 */
export function plainCopy(value: unknown): unknown {
	try {
		return copyValue(value, 0, new Set());
	} catch (error) {
		if (AuthpoolError.isInstance(error)) throw error;
		throw new AuthpoolError("INVALID_INPUT", "Invalid credential: a field could not be read", { cause: error });
	}
}
