/**
 * The OpenAPI 3.1 document of the broker, generated from the zod schemas (JSON Schema 2020-12, which
 * OpenAPI 3.1 uses as its schema dialect). The committed `openapi.json` is this function's output; a
 * test fails when they drift (`pnpm --filter @authpool/broker-protocol openapi` rewrites it).
 */
import { z } from "zod";
import { BROKER_PROTOCOL_VERSION, CAPABILITIES_HEADER } from "./constants";
import * as s from "./schemas";

type JsonObject = Record<string, unknown>;

const components: Record<string, z.ZodType> = {
	Error: s.errorResponseSchema,
	Ok: s.okResponseSchema,
	Health: s.healthResponseSchema,
	Snapshot: s.snapshotResponseSchema,
	SnapshotEntry: s.snapshotEntrySchema,
	RefreshResponse: s.refreshResponseSchema,
	DisableRequest: s.disableRequestSchema,
	BlockRequest: s.blockRequestSchema,
	BlockResponse: s.blockResponseSchema,
	UpsertRequest: s.upsertRequestSchema,
	UpsertResponse: s.upsertResponseSchema,
	UsageStaleRequest: s.usageStaleRequestSchema,
	ClientUsageReport: s.clientUsageReportSchema,
	ClientUsageResponse: s.clientUsageResponseSchema,
	UsageResponse: s.usageResponseSchema,
	UsageHistoryResponse: s.usageHistoryResponseSchema,
	DisabledResponse: s.disabledResponseSchema,
	EntryFrame: s.entryFrameSchema,
	RemovedFrame: s.removedFrameSchema,
	KeepaliveFrame: s.keepaliveFrameSchema,
};

function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonObject {
	const out = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonObject;
	delete out.$schema;
	return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, description: string) => ({
	description,
	content: { "application/json": { schema: ref(name) } },
});
const error = (description: string) => json("Error", description);
const idParam = {
	name: "id",
	in: "path",
	required: true,
	schema: jsonSchema(s.credentialIdParamSchema, "input"),
};
const capabilitiesParam = {
	name: CAPABILITIES_HEADER,
	in: "header",
	required: false,
	description: "Comma-separated capabilities the client understands (`entry-diffs`, `block-scopes`).",
	schema: { type: "string" },
};

function queryParams(schema: z.ZodObject): JsonObject[] {
	return Object.entries(schema.shape).map(([name, field]) => ({
		name,
		in: "query",
		required: false,
		schema: jsonSchema(field as z.ZodType, "input"),
	}));
}

const auth = {
	"401": error("missing or invalid bearer token"),
	"403": error("the token's scope does not allow this route"),
};
const bad = { "400": error("invalid request (JSON or schema)") };
const notFound = { "404": error("no active credential with this id") };
const limited = {
	"429": {
		...error("refresh rate limit of this token exceeded"),
		headers: { "Retry-After": { schema: { type: "integer" } } },
	},
};

/** The document (deterministic: same schemas → byte-identical JSON). */
export function buildOpenApiDocument(version = "0.0.0"): JsonObject {
	const schemas: JsonObject = {};
	for (const [name, schema] of Object.entries(components)) {
		schemas[name] = jsonSchema(schema, name.endsWith("Request") ? "input" : "output");
	}
	const bearer = [{ bearer: [] }];
	return {
		openapi: "3.1.0",
		info: {
			title: "authpool broker",
			version,
			description: `Broker wire protocol v${BROKER_PROTOCOL_VERSION}. Refresh tokens never leave the broker: every OAuth credential it sends carries \`refresh: "__remote__"\`.`,
		},
		jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
		components: {
			securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
			schemas,
		},
		security: bearer,
		paths: {
			"/v1/healthz": {
				get: {
					operationId: "health",
					security: [],
					responses: { "200": json("Health", "the broker is up") },
				},
			},
			"/v1/openapi.json": {
				get: {
					operationId: "openapi",
					security: [],
					responses: { "200": { description: "this document", content: { "application/json": {} } } },
				},
			},
			"/v1/snapshot": {
				get: {
					operationId: "snapshot",
					description:
						'Scope: client. `ETag: "<generation>"`. With `If-None-Match` equal to the current generation and `wait>0`, waits up to `wait` ms for a change, then 304.',
					parameters: [
						...queryParams(s.snapshotQuerySchema),
						{ name: "If-None-Match", in: "header", required: false, schema: { type: "string" } },
						capabilitiesParam,
					],
					responses: {
						"200": json("Snapshot", "the current view"),
						"304": { description: "unchanged (after the wait)" },
						...bad,
						...auth,
					},
				},
			},
			"/v1/snapshot/stream": {
				get: {
					operationId: "snapshotStream",
					description:
						"Scope: client. Server-sent events: first `snapshot` (Snapshot), then `entry` (EntryFrame), `removed` (RemovedFrame), `keepalive` (KeepaliveFrame).",
					parameters: [capabilitiesParam],
					responses: {
						"200": { description: "event stream", content: { "text/event-stream": { schema: { type: "string" } } } },
						...auth,
					},
				},
			},
			"/v1/credential/{id}/refresh": {
				post: {
					operationId: "refreshCredential",
					description: "Scope: client. Forced, single-flight refresh on the broker; answers the redacted entry.",
					parameters: [idParam],
					responses: {
						"200": json("RefreshResponse", "the refreshed entry"),
						...bad,
						...auth,
						...notFound,
						"409": error("the credential is not OAuth"),
						...limited,
						"502": error("the provider refused or failed the refresh"),
					},
				},
			},
			"/v1/credential/{id}/disable": {
				post: {
					operationId: "disableCredential",
					description:
						"Scope: admin. Soft-disable; with `expectedAccessFingerprint`, only if the row still holds that token.",
					parameters: [idParam],
					requestBody: { required: false, content: { "application/json": { schema: ref("DisableRequest") } } },
					responses: {
						"200": json("Ok", "disabled"),
						...bad,
						...auth,
						...notFound,
						"412": error("the row moved on (a peer rotated it)"),
					},
				},
			},
			"/v1/credential/{id}/block": {
				post: {
					operationId: "blockCredential",
					description: "Scope: client. Max-merged block (never shortens one).",
					parameters: [idParam],
					requestBody: { required: true, content: { "application/json": { schema: ref("BlockRequest") } } },
					responses: { "200": json("BlockResponse", "the effective block"), ...bad, ...auth, ...notFound },
				},
			},
			"/v1/credential/{id}/blocks": {
				delete: {
					operationId: "unblockCredential",
					description: "Scope: admin. Lift every block of the row.",
					parameters: [idParam],
					responses: { "200": json("Ok", "lifted"), ...bad, ...auth, ...notFound },
				},
			},
			"/v1/credential": {
				post: {
					operationId: "upsertCredential",
					description:
						"Scope: admin. Upsert by identity; the real refresh token goes in and never comes out. With `ifProviderAbsent` (API keys only), insert only while the provider has no active row and answer `inserted`.",
					requestBody: { required: true, content: { "application/json": { schema: ref("UpsertRequest") } } },
					responses: { "200": json("UpsertResponse", "the provider's rows after the write"), ...bad, ...auth },
				},
			},
			"/v1/usage": {
				get: {
					operationId: "usage",
					description:
						"Scope: client. Aggregate usage reports (`raw` stripped); `maxAgeMs` bounds the broker's cache for this call.",
					parameters: queryParams(s.usageQuerySchema),
					responses: {
						"200": json("UsageResponse", "reports"),
						...bad,
						...auth,
						"502": error("the usage fan-out failed"),
					},
				},
			},
			"/v1/usage/stale": {
				post: {
					operationId: "usageStale",
					description:
						"Scope: client. Drop cached usage reports (of `provider`, or of every provider the token sees) so the next read asks the providers; rate-limited like refresh.",
					requestBody: { required: false, content: { "application/json": { schema: ref("UsageStaleRequest") } } },
					responses: { "200": json("Ok", "dropped"), ...bad, ...auth, ...limited },
				},
			},
			"/v1/usage/observed": {
				post: {
					operationId: "usageObserved",
					description:
						"Scope: client (entries of its providers only). Requests, tokens and cost an install observed, added into the broker store's hourly buckets.",
					requestBody: { required: true, content: { "application/json": { schema: ref("ClientUsageReport") } } },
					responses: {
						"200": json("Ok", "recorded"),
						...bad,
						...auth,
						"501": error("the broker's store does not persist client usage"),
					},
				},
			},
			"/v1/usage/clients": {
				get: {
					operationId: "usageClients",
					description:
						"Scope: client (totals of its providers only). Client-observed usage per install, most recently seen first; `sinceMs` at hour granularity.",
					parameters: queryParams(s.clientUsageQuerySchema),
					responses: { "200": json("ClientUsageResponse", "installs"), ...bad, ...auth },
				},
			},
			"/v1/usage/history": {
				get: {
					operationId: "usageHistory",
					description: "Scope: client (its providers only). Usage history, oldest first.",
					parameters: queryParams(s.usageHistoryQuerySchema),
					responses: { "200": json("UsageHistoryResponse", "entries"), ...bad, ...auth },
				},
			},
			"/v1/credentials/disabled": {
				get: {
					operationId: "disabledCredentials",
					description: "Scope: admin. Tombstones: identity and cause only, never token bytes.",
					parameters: queryParams(s.disabledQuerySchema),
					responses: { "200": json("DisabledResponse", "disabled rows"), ...bad, ...auth },
				},
			},
			"/metrics": {
				get: {
					operationId: "metrics",
					description: "Scope: metrics (or admin). Prometheus text exposition 0.0.4.",
					responses: {
						"200": { description: "metrics", content: { "text/plain": { schema: { type: "string" } } } },
						...auth,
						"404": error("metrics are disabled"),
					},
				},
			},
		},
	};
}
