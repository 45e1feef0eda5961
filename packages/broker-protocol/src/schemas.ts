/**
 * zod schemas of every request, response and stream frame of the broker (docs/broker-protocol.md).
 *
 * Envelopes are strict: an unknown key is a validation error. Credentials and usage reports are loose:
 * provider extension fields (`tokenUrl`, `clientId`, plan metadata, ...) round-trip untouched.
 * Every OAuth credential a broker sends carries `refresh: "__remote__"`; the only place a real refresh
 * token may appear is the body of an upsert sent *to* the broker.
 */
import { z } from "zod";
import { MAX_SNAPSHOT_WAIT_MS, MAX_USAGE_MAX_AGE_MS, MIN_USAGE_MAX_AGE_MS, REMOTE_REFRESH_SENTINEL } from "./constants";

const PROVIDER_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const epochMs = z.number().int().nonnegative().safe();
const text = (max: number) => z.string().max(max);

/** A credential row id (path parameter and field). */
export const credentialIdSchema = z.number().int().positive().safe();
export const providerIdSchema = z.string().regex(PROVIDER_ID, "must be a provider id ([a-z0-9][a-z0-9._-]{0,63})");

const oauthIdentityFields = {
	access: z.string().min(1).max(65_536),
	expires: z.number().finite(),
	accountId: text(1024).optional(),
	email: text(1024).optional(),
	projectId: text(1024).optional(),
	enterpriseUrl: text(8192).optional(),
	apiEndpoint: text(8192).optional(),
};

/** An OAuth credential as a broker sends it: the refresh token is always the sentinel. */
export const wireOAuthCredentialSchema = z.looseObject({
	type: z.literal("oauth"),
	...oauthIdentityFields,
	refresh: z.literal(REMOTE_REFRESH_SENTINEL),
});

/** API keys are sent in clear: a client uses them directly. */
export const wireApiKeyCredentialSchema = z.strictObject({
	type: z.literal("api_key"),
	key: z.string().min(1).max(65_536),
});

export const wireCredentialSchema = z.discriminatedUnion("type", [
	wireOAuthCredentialSchema,
	wireApiKeyCredentialSchema,
]);

/** An unexpired block of a row. */
export const snapshotBlockSchema = z.strictObject({
	providerKey: z.string().min(1).max(256),
	blockScope: text(256),
	blockedUntilMs: epochMs,
	updatedAtMs: epochMs,
});

export const snapshotEntrySchema = z.strictObject({
	id: credentialIdSchema,
	provider: providerIdSchema,
	credential: wireCredentialSchema,
	identityKey: z.string().nullable(),
	/** Server's projection of when its background refresher rotates this row (ms from `serverNowMs`). */
	rotatesInMs: z.number().int().nonnegative().nullable(),
	blocks: z.array(snapshotBlockSchema),
});

export const refresherInfoSchema = z.strictObject({
	enabled: z.boolean(),
	intervalMs: z.number().int().nonnegative(),
	skewMs: z.number().int().nonnegative(),
	nextSweepInMs: z.number().int().nonnegative(),
});

export const snapshotResponseSchema = z.strictObject({
	/**
	 * Random per broker process. Generations count per process: a client that sees another instance
	 * (a restart, another replica) takes the snapshot whole instead of comparing generations.
	 */
	instanceId: z.string().min(1).max(128),
	generation: z.number().int().nonnegative().safe(),
	generatedAt: epochMs,
	serverNowMs: epochMs,
	refresher: refresherInfoSchema,
	credentials: z.array(snapshotEntrySchema),
});

export const errorResponseSchema = z.strictObject({ error: z.string() });
export const okResponseSchema = z.strictObject({ ok: z.literal(true) });

export const healthResponseSchema = z.strictObject({
	ok: z.literal(true),
	version: z.string(),
	protocol: z.number().int().positive(),
});

// ── queries (strings on the wire; coerced) ──────────────────────────────────

const intString = (schema: z.ZodNumber) =>
	z
		.string()
		.regex(/^\d{1,16}$/, "must be a non-negative integer")
		.transform(Number)
		.pipe(schema);

export const snapshotQuerySchema = z.strictObject({
	wait: intString(z.number().int().min(0).max(MAX_SNAPSHOT_WAIT_MS)).optional(),
});

export const usageQuerySchema = z.strictObject({
	maxAgeMs: intString(z.number().int().min(MIN_USAGE_MAX_AGE_MS).max(MAX_USAGE_MAX_AGE_MS)).optional(),
});

export const usageHistoryQuerySchema = z.strictObject({
	sinceMs: intString(z.number().int().nonnegative().safe()).optional(),
	provider: providerIdSchema.optional(),
});

export const disabledQuerySchema = z.strictObject({ provider: providerIdSchema.optional() });

export const credentialIdParamSchema = z
	.string()
	.regex(/^[1-9]\d{0,15}$/, "must be a credential id")
	.transform(Number)
	.pipe(credentialIdSchema);

// ── request bodies ──────────────────────────────────────────────────────────

/** SHA-256 hex of an access token (never the token itself). */
export const accessFingerprintSchema = z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 hex fingerprint");

export const disableRequestSchema = z.strictObject({
	cause: z.string().min(1).max(1024).regex(/\S/, "must not be blank").optional(),
	/** Conditional disable: only when the row still carries this access token (else 412). */
	expectedAccessFingerprint: accessFingerprintSchema.optional(),
});

const BLOCK_KEY = /^[A-Za-z0-9._:/@-]*$/;
export const blockRequestSchema = z.strictObject({
	providerKey: z.string().min(1).max(256).regex(BLOCK_KEY, "must be <provider>:<type>"),
	blockScope: text(256).regex(BLOCK_KEY, "must be a block scope name").optional(),
	blockedUntilMs: epochMs,
});

export const blockResponseSchema = z.strictObject({ ok: z.literal(true), blockedUntilMs: epochMs });

/** An OAuth credential sent *to* the broker: the real refresh token, never the sentinel. */
export const upsertOAuthCredentialSchema = z.looseObject({
	type: z.literal("oauth"),
	...oauthIdentityFields,
	refresh: z
		.string()
		.min(1)
		.max(65_536)
		.refine((value) => value !== REMOTE_REFRESH_SENTINEL, "must be the real refresh token, not the sentinel"),
});

export const upsertCredentialSchema = z.discriminatedUnion("type", [
	upsertOAuthCredentialSchema,
	wireApiKeyCredentialSchema,
]);

export const upsertRequestSchema = z.strictObject({
	provider: providerIdSchema,
	credential: upsertCredentialSchema,
	/**
	 * Insert only while the provider has no active row (an API key only: OAuth logins are merged by
	 * identity instead). Of concurrent seeds exactly one inserts; the others get `inserted: false`.
	 */
	ifProviderAbsent: z.boolean().optional(),
});

export const upsertResponseSchema = z.strictObject({
	/** The provider's active rows after the write (redacted). */
	entries: z.array(snapshotEntrySchema),
	/** The written row; absent when nothing was written (`inserted: false`). */
	id: credentialIdSchema.optional(),
	/** Only when the request set `ifProviderAbsent`: whether this call inserted the row. */
	inserted: z.boolean().optional(),
});

// ── client-observed usage ───────────────────────────────────────────────────

const usageCount = z.number().int().nonnegative().max(1e12);
const label = (max: number) =>
	z
		.string()
		.min(1)
		.max(max)
		.regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

/** What one install saw of its own requests for one provider and model. */
export const observedUsageEntrySchema = z.strictObject({
	at: z.number().finite().positive().max(8.64e15),
	provider: providerIdSchema,
	model: label(256),
	requests: usageCount,
	inputTokens: usageCount,
	outputTokens: usageCount,
	cacheReadTokens: usageCount,
	cacheWriteTokens: usageCount,
	costUsd: z.number().finite().nonnegative().max(1e9),
});

/** `POST /v1/usage/observed`: one install's report (at most 1,000 entries). */
export const clientUsageReportSchema = z.strictObject({
	installId: label(128),
	hostname: label(255).optional(),
	app: label(128).optional(),
	entries: z.array(observedUsageEntrySchema).max(1000),
});

export const clientUsageQuerySchema = z.strictObject({
	sinceMs: intString(z.number().int().nonnegative().safe()).optional(),
});

const clientUsageTotalsSchema = z.strictObject({
	app: z.string().optional(),
	provider: z.string(),
	requests: z.number(),
	inputTokens: z.number(),
	outputTokens: z.number(),
	cacheReadTokens: z.number(),
	cacheWriteTokens: z.number(),
	costUsd: z.number(),
});

/** `GET /v1/usage/clients`: one summary per install, most recently seen first. */
export const clientUsageResponseSchema = z.strictObject({
	generatedAt: epochMs,
	clients: z.array(
		z.strictObject({
			installId: z.string(),
			hostname: z.string().optional(),
			firstSeen: z.number(),
			lastSeen: z.number(),
			providers: z.array(clientUsageTotalsSchema),
		}),
	),
});

/** `POST /v1/usage/stale`: drop cached usage reports (of one provider, or every provider the token sees). */
export const usageStaleRequestSchema = z.strictObject({ provider: providerIdSchema.optional() });

export const refreshResponseSchema = z.strictObject({ entry: snapshotEntrySchema });

// ── usage ───────────────────────────────────────────────────────────────────

const usageStatusSchema = z.enum(["ok", "warning", "exhausted", "unknown"]);

export const usageLimitSchema = z.looseObject({
	id: z.string(),
	label: z.string(),
	scope: z.looseObject({ provider: z.string() }),
	window: z.looseObject({ id: z.string(), label: z.string() }).optional(),
	amount: z.looseObject({ unit: z.string() }),
	status: usageStatusSchema.optional(),
});

/** A usage report: extension fields kept; `raw` (the upstream payload) is never sent. */
export const usageReportSchema = z.looseObject({
	provider: z.string(),
	fetchedAt: z.number(),
	limits: z.array(usageLimitSchema),
	metadata: z.record(z.string(), z.unknown()).optional(),
	raw: z.never().optional(),
});

export const usageResponseSchema = z.strictObject({
	generatedAt: epochMs,
	reports: z.array(usageReportSchema),
});

export const usageHistoryEntrySchema = z.strictObject({
	recordedAt: z.number(),
	provider: z.string(),
	accountKey: z.string(),
	email: z.string().optional(),
	accountId: z.string().optional(),
	limitId: z.string(),
	label: z.string(),
	windowLabel: z.string().optional(),
	usedFraction: z.number().optional(),
	status: usageStatusSchema.optional(),
	resetsAt: z.number().optional(),
});

export const usageHistoryResponseSchema = z.strictObject({
	generatedAt: epochMs,
	entries: z.array(usageHistoryEntrySchema),
});

/** A disabled row: identity and cause only, never token bytes. */
export const disabledCredentialSchema = z.strictObject({
	id: credentialIdSchema,
	provider: z.string(),
	type: z.enum(["oauth", "api_key"]),
	email: z.string().optional(),
	accountId: z.string().optional(),
	disabledCause: z.string(),
	disabledAtMs: epochMs.nullable(),
});

export const disabledResponseSchema = z.strictObject({
	generatedAt: epochMs,
	disabled: z.array(disabledCredentialSchema),
});

// ── SSE frames (`GET /v1/snapshot/stream`) ──────────────────────────────────

/** `event: snapshot`: the whole view (first frame, and after a gap the server cannot diff). */
export const snapshotFrameSchema = snapshotResponseSchema;
/** `event: entry`: one row added or changed. */
export const entryFrameSchema = z.strictObject({
	generation: z.number().int().nonnegative().safe(),
	serverNowMs: epochMs,
	entry: snapshotEntrySchema,
});
/** `event: removed`: one row gone (disabled or deleted). */
export const removedFrameSchema = z.strictObject({
	generation: z.number().int().nonnegative().safe(),
	id: credentialIdSchema,
});
/** `event: keepalive`: sent every keepalive interval so idle proxies keep the stream open. */
export const keepaliveFrameSchema = z.strictObject({ serverNowMs: epochMs });

export const streamFrameSchemas = {
	snapshot: snapshotFrameSchema,
	entry: entryFrameSchema,
	removed: removedFrameSchema,
	keepalive: keepaliveFrameSchema,
} as const;
export type StreamEventName = keyof typeof streamFrameSchemas;

// ── inferred types ──────────────────────────────────────────────────────────

export type WireOAuthCredential = z.infer<typeof wireOAuthCredentialSchema>;
export type WireCredential = z.infer<typeof wireCredentialSchema>;
export type WireSnapshotBlock = z.infer<typeof snapshotBlockSchema>;
export type WireSnapshotEntry = z.infer<typeof snapshotEntrySchema>;
export type RefresherInfo = z.infer<typeof refresherInfoSchema>;
export type SnapshotResponse = z.infer<typeof snapshotResponseSchema>;
export type ErrorResponse = z.infer<typeof errorResponseSchema>;
export type HealthResponse = z.infer<typeof healthResponseSchema>;
export type DisableRequest = z.infer<typeof disableRequestSchema>;
export type BlockRequest = z.infer<typeof blockRequestSchema>;
export type BlockResponse = z.infer<typeof blockResponseSchema>;
export type UpsertRequest = z.input<typeof upsertRequestSchema>;
export type UpsertResponse = z.infer<typeof upsertResponseSchema>;
export type UsageStaleRequest = z.input<typeof usageStaleRequestSchema>;
export type WireClientUsageReport = z.infer<typeof clientUsageReportSchema>;
export type ClientUsageResponse = z.infer<typeof clientUsageResponseSchema>;
export type RefreshResponse = z.infer<typeof refreshResponseSchema>;
export type WireUsageReport = z.infer<typeof usageReportSchema>;
export type UsageResponse = z.infer<typeof usageResponseSchema>;
export type WireUsageHistoryEntry = z.infer<typeof usageHistoryEntrySchema>;
export type UsageHistoryResponse = z.infer<typeof usageHistoryResponseSchema>;
export type DisabledCredentialSummary = z.infer<typeof disabledCredentialSchema>;
export type DisabledResponse = z.infer<typeof disabledResponseSchema>;
export type EntryFrame = z.infer<typeof entryFrameSchema>;
export type RemovedFrame = z.infer<typeof removedFrameSchema>;
export type KeepaliveFrame = z.infer<typeof keepaliveFrameSchema>;
export type StreamFrame =
	| { event: "snapshot"; data: SnapshotResponse }
	| { event: "entry"; data: EntryFrame }
	| { event: "removed"; data: RemovedFrame }
	| { event: "keepalive"; data: KeepaliveFrame };
