/** Constants of the broker wire protocol shared by server and client. */

/** Protocol version answered by `GET /v1/healthz`; bumped only on a breaking wire change. */
export const BROKER_PROTOCOL_VERSION = 1;

/** Replaces every OAuth refresh token in anything a broker sends (same value as core's sentinel). */
export const REMOTE_REFRESH_SENTINEL = "__remote__" as const;

/** Request header: comma-separated capabilities the client understands. Snapshot answers `Vary` on it. */
export const CAPABILITIES_HEADER = "Authpool-Broker-Capabilities";

/**
 * Capabilities this protocol version defines.
 * - `entry-diffs`: the client applies SSE `entry` / `removed` frames (without it a stream sends only
 *   whole `snapshot` frames).
 * - `block-scopes`: the client honours scoped blocks; without it every scoped block of a row is
 *   collapsed into one conservative whole-credential block (latest deadline).
 */
export const BROKER_CAPABILITIES = ["entry-diffs", "block-scopes"] as const;
export type BrokerCapability = (typeof BROKER_CAPABILITIES)[number];

/** Default bind of a broker (loopback). */
export const DEFAULT_BROKER_HOST = "127.0.0.1";
export const DEFAULT_BROKER_PORT = 8765;

/** Longest long-poll a snapshot request may ask for (`?wait=`). */
export const MAX_SNAPSHOT_WAIT_MS = 30_000;

/** Bounds of `GET /v1/usage?maxAgeMs=`: a caller may ask for fresher reports, not hammer the providers. */
export const MIN_USAGE_MAX_AGE_MS = 5_000;
export const MAX_USAGE_MAX_AGE_MS = 3_600_000;

/** Largest request body a broker reads (bytes). */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** Every route of the protocol (method, path template). */
export const BROKER_ROUTES = {
	health: { method: "GET", path: "/v1/healthz" },
	openapi: { method: "GET", path: "/v1/openapi.json" },
	snapshot: { method: "GET", path: "/v1/snapshot" },
	stream: { method: "GET", path: "/v1/snapshot/stream" },
	refresh: { method: "POST", path: "/v1/credential/{id}/refresh" },
	disable: { method: "POST", path: "/v1/credential/{id}/disable" },
	block: { method: "POST", path: "/v1/credential/{id}/block" },
	unblock: { method: "DELETE", path: "/v1/credential/{id}/blocks" },
	upsert: { method: "POST", path: "/v1/credential" },
	usage: { method: "GET", path: "/v1/usage" },
	usageHistory: { method: "GET", path: "/v1/usage/history" },
	usageStale: { method: "POST", path: "/v1/usage/stale" },
	usageObserved: { method: "POST", path: "/v1/usage/observed" },
	usageClients: { method: "GET", path: "/v1/usage/clients" },
	disabled: { method: "GET", path: "/v1/credentials/disabled" },
	metrics: { method: "GET", path: "/metrics" },
} as const;
export type BrokerRouteName = keyof typeof BROKER_ROUTES;
