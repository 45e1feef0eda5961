import type { Logger } from "@authpool/core";

/** One upstream API the gateway fronts: clients call `<gateway>/<prefix>/…`. */
export interface GatewayUpstream {
	/** Path prefix clients use, e.g. `"anthropic"` → `http://gateway/anthropic/v1/messages`. */
	prefix: string;
	/** Pool provider whose credentials authenticate the calls, e.g. `"anthropic"`. */
	provider: string;
	/** Upstream origin (and base path), e.g. `"https://api.anthropic.com"`. */
	baseUrl: string;
	/**
	 * How the key is presented: `anthropic` sends API keys as `x-api-key` and OAuth tokens as a bearer with
	 * the OAuth beta header; `openai` sends every key as `Authorization: Bearer`.
	 */
	style: "anthropic" | "openai";
}

/** What the gateway needs from the pool (an `AuthStorage` fits). */
export interface GatewayPool {
	resolver(
		provider: string,
		options?: { sessionId?: string; modelId?: string },
	): (input?: { error?: unknown; lastChance?: boolean; signal?: AbortSignal }) => Promise<string | undefined>;
	markUsageLimitReached(
		provider: string,
		sessionId: string | undefined,
		options?: { retryAfterMs?: number; apiKey?: string },
	): Promise<{ switched: boolean; retryAtMs?: number }>;
	ingestUsageHeaders(
		provider: string,
		headers: Record<string, string>,
		options?: { sessionId?: string },
	): Promise<boolean>;
	listStoredCredentials(provider?: string): ReadonlyArray<{ credential: { type: string } }>;
	onGenerationChanged(listener: (generation: number) => void): () => void;
}

/** Options of {@link startGateway}. */
export interface GatewayOptions {
	/** The pool (an `AuthStorage`, already loaded). */
	storage: GatewayPool;
	/** Upstream APIs, matched by prefix. */
	upstreams: GatewayUpstream[];
	/** Where to listen. @default { host: "127.0.0.1", port: 0 } (a free port) */
	bind?: { host?: string; port?: number };
	/** Client tokens (kept only as SHA-256 hashes). Clients send one as `Authorization: Bearer` or `x-api-key`. */
	tokens?: string[];
	/** Client tokens given as lowercase hex SHA-256 hashes (so the plain tokens never reach this process). */
	tokenHashes?: string[];
	/** Serve without client tokens; only allowed on a loopback address. @default false */
	allowUnauthenticated?: boolean;
	/** Attempts per request across refreshes and rotations. @default 3 */
	maxAttempts?: number;
	/** Largest request body kept for a retry; a larger body is streamed once and not retried. @default 8 MiB */
	maxReplayBytes?: number;
	/** @default silent. Receives provider, status, attempts and timings — never a key or token. */
	logger?: Logger;
}
