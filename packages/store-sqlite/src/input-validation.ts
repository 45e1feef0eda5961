/**
 * Argument checks shared by every part of the store, matching the reference memory store: bad
 * arguments reject with `INVALID_INPUT`, and messages name fields and problems, never values (a
 * malformed credential must not leak its secret into an error).
 */
import { AuthpoolError } from "@authpool/core";
import { z } from "zod";

export const providerSchema = z.string().trim().min(1);
export const idSchema = z.number().int().safe();
export const versionSchema = z.number().int();
export const causeSchema = z.string().min(1);
export const ownerSchema = z.string().min(1);
export const ttlSchema = z.number().finite().positive();
export const keySchema = z.string();
export const finiteSchema = z.number().finite();

export const credentialSchema = z.discriminatedUnion("type", [
	z.looseObject({ type: z.literal("api_key"), key: z.string().min(1) }),
	z.looseObject({
		type: z.literal("oauth"),
		access: z.string(),
		refresh: z.string(),
		expires: z.number().finite(),
	}),
]);

export const blockSchema = z.object({
	credentialId: idSchema,
	providerKey: z.string().min(1),
	scope: z.string(),
	blockedUntil: z.number().finite(),
});

export const blockFilterSchema = z
	.object({ credentialId: idSchema.optional(), providerKey: z.string().optional() })
	.optional();

export const usageEntriesSchema = z.array(
	z.looseObject({
		recordedAt: z.number().finite(),
		provider: providerSchema,
		accountKey: z.string().min(1),
		limitId: z.string().min(1),
		label: z.string(),
	}),
);

export const costEntriesSchema = z.array(
	z.looseObject({
		recordedAt: z.number().finite(),
		provider: providerSchema,
		accountKey: z.string().min(1),
		costUsd: z.number().finite(),
	}),
);

export const usageQuerySchema = z
	.object({ provider: providerSchema.optional(), sinceMs: z.number().finite().optional() })
	.optional();

export const costQuerySchema = z
	.object({
		provider: providerSchema.optional(),
		accountKey: z.string().optional(),
		sinceMs: z.number().finite().optional(),
	})
	.optional();

/** Parse or throw `INVALID_INPUT` listing `path: message`. */
export function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
	const result = schema.safeParse(value);
	if (result.success) return result.data;
	const issues = result.error.issues.map(
		(issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`,
	);
	throw new AuthpoolError("INVALID_INPUT", `Invalid ${what}: ${issues.join("; ")}`, { details: { issues } });
}
