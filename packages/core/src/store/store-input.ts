/**
 * Argument checks every store shares (the memory store, SQLite, and any third-party store), so bad
 * input is rejected the same way everywhere: `INVALID_INPUT` naming fields and problems, never values
 * (zod messages do not echo input, so a malformed credential cannot leak its secret into an error).
 */
import { z } from "zod";
import { AuthpoolError } from "../errors";

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
