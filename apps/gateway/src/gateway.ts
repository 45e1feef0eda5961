/**
 * The gateway: a reverse proxy that authenticates each upstream call with a key from the pool.
 * Bodies stream both ways (the request body is also kept, up to `maxReplayBytes`, so a 429/401 can
 * be retried with another key); rate-limit headers of every answer go back into the pool.
 */
import {
	createServer,
	Agent as HttpAgent,
	request as httpRequest,
	type IncomingMessage,
	type OutgoingHttpHeaders,
	type Server,
	type ServerResponse,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { AuthpoolError, silentLogger } from "@authpool/core";
import { createTokenCheck, hashGatewayToken, presentedToken } from "./client-auth";
import type { GatewayOptions, GatewayPool, GatewayUpstream } from "./options";
import { sessionFromHeaders } from "./session";

/** A running gateway. */
export interface Gateway {
	/** `http://host:port`. */
	readonly url: string;
	readonly port: number;
	/** Counters since start (for dashboards and the demo). */
	stats(): GatewayStats;
	close(): Promise<void>;
}

export interface GatewayStats {
	requests: number;
	retries: number;
	rotations: number;
	exhausted: number;
	byStatus: Record<string, number>;
}

const HOP_BY_HOP = new Set([
	"connection",
	"keep-alive",
	"proxy-authenticate",
	"proxy-authorization",
	"te",
	"trailer",
	"transfer-encoding",
	"upgrade",
	"host",
]);
const CLIENT_ONLY = new Set(["authorization", "x-api-key", "x-authpool-session"]);
const OAUTH_BETA = "oauth-2025-04-20";
const MAX_ERROR_BODY = 64 * 1024;

interface Route {
	upstream: GatewayUpstream;
	base: URL;
	agent: HttpAgent | HttpsAgent;
	request: typeof httpRequest;
}

function isLoopback(host: string): boolean {
	return host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

function jsonError(res: ServerResponse, status: number, message: string, headers: OutgoingHttpHeaders = {}): void {
	if (res.headersSent) {
		res.destroy();
		return;
	}
	const body = JSON.stringify({ error: message });
	res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) });
	res.end(body);
}

/** An error the retry policy can classify (status + the upstream's error message). */
function upstreamError(status: number, body: string): Error & { status: number } {
	let message = `upstream answered ${status}`;
	try {
		const parsed = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
		const inner = typeof parsed.error === "object" ? parsed.error?.message : (parsed.error ?? parsed.message);
		if (typeof inner === "string") message = `${message}: ${inner.slice(0, 500)}`;
	} catch {
		// not JSON: the status alone classifies it
	}
	return Object.assign(new Error(message), { status });
}

function retryAfterMs(value: string | string[] | undefined, now: number): number | undefined {
	const raw = Array.isArray(value) ? value[0] : value;
	if (!raw) return undefined;
	const seconds = Number(raw);
	if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
	const at = Date.parse(raw);
	return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/** Is a key an OAuth access token of a stored row (else an API key)? Cached per pool generation. */
function createOAuthKeyIndex(storage: GatewayPool) {
	let cache: Map<string, { oauth: Set<string>; other: Set<string> }> | undefined;
	storage.onGenerationChanged(() => {
		cache = undefined;
	});
	const build = (provider: string) => {
		const oauth = new Set<string>();
		const other = new Set<string>();
		for (const row of storage.listStoredCredentials(provider)) {
			const credential = row.credential as { type: string; access?: unknown; key?: unknown };
			if (credential.type === "oauth" && typeof credential.access === "string") oauth.add(credential.access);
			else if (typeof credential.key === "string") other.add(credential.key);
		}
		return { oauth, other };
	};
	return (provider: string, key: string): boolean => {
		cache ??= new Map();
		let sets = cache.get(provider);
		if (sets?.oauth.has(key)) return true;
		if (sets?.other.has(key)) return false;
		// Unknown key (a refresh changed a token, or it comes from the environment): rebuild once.
		sets = build(provider);
		cache.set(provider, sets);
		if (!sets.oauth.has(key)) sets.other.add(key);
		return sets.oauth.has(key);
	};
}

/**
 * Start the gateway.
 *
 * @throws AuthpoolError `INVALID_OPTIONS` when no upstream is given, a base URL is not http(s), or the
 * gateway would listen on a non-loopback address without client tokens.
 * @example
 * const gateway = await startGateway({
 *   storage,
 *   tokens: [process.env.GATEWAY_TOKEN!],
 *   upstreams: [{ prefix: "anthropic", provider: "anthropic", baseUrl: "https://api.anthropic.com", style: "anthropic" }],
 * });
 * // ANTHROPIC_BASE_URL=`${gateway.url}/anthropic` ANTHROPIC_API_KEY=$GATEWAY_TOKEN claude
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
	const host = options.bind?.host ?? "127.0.0.1";
	const port = options.bind?.port ?? 0;
	const logger = options.logger ?? silentLogger;
	const maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 3));
	const maxReplayBytes = options.maxReplayBytes ?? 8 * 1024 * 1024;
	const hashes = [
		...(options.tokens ?? []).map((t) => Buffer.from(require_sha256(t), "hex")),
		...(options.tokenHashes ?? []).map((h) => {
			if (!/^[0-9a-f]{64}$/.test(h))
				throw new AuthpoolError("INVALID_OPTIONS", "gateway: tokenHashes must be hex SHA-256");
			return Buffer.from(h, "hex");
		}),
	];
	if (hashes.length === 0 && !(options.allowUnauthenticated && isLoopback(host))) {
		throw new AuthpoolError(
			"INVALID_OPTIONS",
			"gateway: client tokens are required (allowUnauthenticated is only accepted on a loopback address)",
		);
	}
	if (options.upstreams.length === 0)
		throw new AuthpoolError("INVALID_OPTIONS", "gateway: at least one upstream is required");
	const routes = new Map<string, Route>();
	for (const upstream of options.upstreams) {
		let base: URL;
		try {
			base = new URL(upstream.baseUrl);
		} catch {
			throw new AuthpoolError("INVALID_OPTIONS", `gateway: upstream "${upstream.prefix}" has an invalid baseUrl`);
		}
		if (base.protocol !== "http:" && base.protocol !== "https:") {
			throw new AuthpoolError("INVALID_OPTIONS", `gateway: upstream "${upstream.prefix}" must be http or https`);
		}
		const prefix = upstream.prefix.replace(/^\/+|\/+$/g, "");
		if (!/^[a-z0-9][a-z0-9._-]*$/.test(prefix)) {
			throw new AuthpoolError("INVALID_OPTIONS", `gateway: prefix "${upstream.prefix}" must be one path segment`);
		}
		const https = base.protocol === "https:";
		routes.set(prefix, {
			upstream,
			base,
			agent: https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true }),
			request: https ? httpsRequest : httpRequest,
		});
	}
	const authorized = hashes.length > 0 ? createTokenCheck(hashes) : () => true;
	const isOAuthKey = createOAuthKeyIndex(options.storage);
	const stats: GatewayStats = { requests: 0, retries: 0, rotations: 0, exhausted: 0, byStatus: {} };

	const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
		stats.requests++;
		const started = performance.now();
		const rawUrl = req.url ?? "/";
		const slash = rawUrl.indexOf("/", 1);
		const prefix = rawUrl.slice(1, slash === -1 ? undefined : slash).split("?")[0] ?? "";
		const route = routes.get(prefix);
		if (!route) return jsonError(res, 404, `no upstream for /${prefix}`);
		if (!authorized(presentedToken(req.headers))) {
			return jsonError(res, 401, "missing or invalid gateway token", { "www-authenticate": "Bearer" });
		}
		const { upstream } = route;
		const sessionId = sessionFromHeaders(req.headers);
		const resolve = options.storage.resolver(upstream.provider, sessionId ? { sessionId } : {});
		const abort = new AbortController();
		res.on("close", () => {
			if (!res.writableFinished) abort.abort();
		});

		// The body streams into the first attempt and is kept (up to maxReplayBytes) for a retry. The
		// listeners attach only when that attempt starts: until then the request stays paused.
		const kept: Buffer[] = [];
		let keptBytes = 0;
		let replayable = true;
		let bodyEnded: Promise<void> = Promise.resolve();
		const streamBody = (out: import("node:http").ClientRequest) => {
			bodyEnded = new Promise<void>((done) => {
				req.on("data", (chunk: Buffer) => {
					if (replayable) {
						keptBytes += chunk.length;
						if (keptBytes > maxReplayBytes) {
							replayable = false;
							kept.length = 0;
						} else kept.push(chunk);
					}
					if (!out.write(chunk)) {
						req.pause();
						out.once("drain", () => req.resume());
					}
				});
				req.on("end", () => {
					out.end();
					done();
				});
				req.on("error", () => {
					out.destroy();
					done();
				});
			});
		};

		const path = `${route.base.pathname.replace(/\/+$/, "")}${slash === -1 ? "/" : rawUrl.slice(slash)}`;
		const baseHeaders: OutgoingHttpHeaders = {};
		for (const [name, value] of Object.entries(req.headers)) {
			if (value === undefined || HOP_BY_HOP.has(name) || CLIENT_ONLY.has(name)) continue;
			baseHeaders[name] = value;
		}

		let key: string | undefined;
		try {
			key = await resolve({ signal: abort.signal });
		} catch (error) {
			return jsonError(res, 502, `no key for ${upstream.provider}: ${safeMessage(error)}`);
		}
		for (let attempt = 1; ; attempt++) {
			if (key === undefined) {
				return jsonError(res, 503, `no credential available for ${upstream.provider}`);
			}
			const headers: OutgoingHttpHeaders = { ...baseHeaders, host: route.base.host };
			if (upstream.style === "anthropic") {
				if (isOAuthKey(upstream.provider, key)) {
					headers.authorization = `Bearer ${key}`;
					const beta = typeof headers["anthropic-beta"] === "string" ? headers["anthropic-beta"] : "";
					if (
						!beta
							.split(",")
							.map((s) => s.trim())
							.includes(OAUTH_BETA)
					) {
						headers["anthropic-beta"] = beta ? `${beta},${OAUTH_BETA}` : OAUTH_BETA;
					}
				} else headers["x-api-key"] = key;
			} else headers.authorization = `Bearer ${key}`;

			const first = attempt === 1;
			let upstreamRes: IncomingMessage;
			try {
				upstreamRes = await new Promise<IncomingMessage>((resolveRes, reject) => {
					const out = route.request(
						{
							protocol: route.base.protocol,
							hostname: route.base.hostname,
							port: route.base.port || undefined,
							method: req.method,
							path,
							headers,
							agent: route.agent,
							signal: abort.signal,
						},
						resolveRes,
					);
					out.on("error", reject);
					if (first) streamBody(out);
					else {
						for (const chunk of kept) out.write(chunk);
						out.end();
					}
				});
			} catch (error) {
				if (abort.signal.aborted) return;
				logger.warn("gateway: upstream unreachable", { provider: upstream.provider, error: safeMessage(error) });
				return jsonError(res, 502, `upstream ${upstream.provider} unreachable`);
			}
			const status = upstreamRes.statusCode ?? 502;
			const retryable = (status === 429 || status === 401) && attempt < maxAttempts;
			if (retryable) {
				await bodyEnded;
				if (!replayable) {
					// Too large to resend: the client gets the upstream answer as it is.
				} else {
					const errorBody = await readSmall(upstreamRes);
					const error = upstreamError(status, errorBody);
					stats.retries++;
					try {
						if (status === 429) {
							const wait = retryAfterMs(upstreamRes.headers["retry-after"], Date.now());
							const mark = await options.storage.markUsageLimitReached(upstream.provider, sessionId, {
								apiKey: key,
								...(wait !== undefined ? { retryAfterMs: wait } : {}),
							});
							if (!mark.switched) {
								stats.exhausted++;
								const retryAt = mark.retryAtMs ?? Date.now() + (wait ?? 60_000);
								const seconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
								count(stats, 429);
								logger.info("gateway: pool exhausted", { provider: upstream.provider, retryAfterSeconds: seconds });
								return jsonError(
									res,
									429,
									`every ${upstream.provider} account is rate limited; retry after ${seconds}s`,
									{
										"retry-after": String(seconds),
									},
								);
							}
							stats.rotations++;
						}
						const lastChance = status === 401 && attempt + 1 >= maxAttempts;
						if (status === 401 && lastChance) stats.rotations++;
						key = await resolve({ error, lastChance, signal: abort.signal });
					} catch (retryError) {
						if (abort.signal.aborted) return;
						return jsonError(res, 502, `could not rotate ${upstream.provider}: ${safeMessage(retryError)}`);
					}
					continue;
				}
			}
			ingest(options.storage, upstream.provider, upstreamRes, sessionId);
			const responseHeaders: OutgoingHttpHeaders = {};
			for (const [name, value] of Object.entries(upstreamRes.headers)) {
				if (value === undefined || HOP_BY_HOP.has(name)) continue;
				responseHeaders[name] = value;
			}
			res.writeHead(status, responseHeaders);
			res.flushHeaders();
			upstreamRes.pipe(res);
			count(stats, status);
			upstreamRes.on("end", () => {
				logger.debug("gateway: request", {
					provider: upstream.provider,
					status,
					attempts: attempt,
					ms: Math.round((performance.now() - started) * 100) / 100,
				});
			});
			upstreamRes.on("error", () => res.destroy());
			return;
		}
	};

	const server: Server = createServer((req, res) => {
		handle(req, res).catch((error) => {
			logger.error("gateway: request failed", { error: safeMessage(error) });
			jsonError(res, 500, "gateway error");
		});
	});
	server.keepAliveTimeout = 65_000;
	await new Promise<void>((resolveListen, reject) => {
		server.once("error", reject);
		server.listen(port, host, () => resolveListen());
	});
	const address = server.address() as AddressInfo;
	const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
	return {
		url: `http://${shownHost}:${address.port}`,
		port: address.port,
		stats: () => ({ ...stats, byStatus: { ...stats.byStatus } }),
		close: () =>
			new Promise<void>((done) => {
				for (const route of routes.values()) route.agent.destroy();
				server.close(() => done());
				server.closeAllConnections();
			}),
	};
}

function require_sha256(token: string): string {
	if (typeof token !== "string" || token.length < 8) {
		throw new AuthpoolError("INVALID_OPTIONS", "gateway: each client token must be a string of at least 8 characters");
	}
	return hashGatewayToken(token);
}

function count(stats: GatewayStats, status: number): void {
	stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
}

function safeMessage(error: unknown): string {
	return error instanceof Error ? (error.message.split("\n")[0]?.slice(0, 200) ?? "error") : "error";
}

function readSmall(res: IncomingMessage): Promise<string> {
	return new Promise((done) => {
		const chunks: Buffer[] = [];
		let size = 0;
		res.on("data", (chunk: Buffer) => {
			size += chunk.length;
			if (size <= MAX_ERROR_BODY) chunks.push(chunk);
		});
		res.on("end", () => done(Buffer.concat(chunks).toString("utf8")));
		res.on("error", () => done(""));
	});
}

function ingest(storage: GatewayPool, provider: string, res: IncomingMessage, sessionId: string | undefined): void {
	const headers: Record<string, string> = {};
	let any = false;
	for (const [name, value] of Object.entries(res.headers)) {
		if (typeof value !== "string") continue;
		if (name.includes("ratelimit") || name.startsWith("x-codex-") || name === "retry-after") {
			headers[name] = value;
			any = true;
		}
	}
	if (!any) return;
	storage.ingestUsageHeaders(provider, headers, sessionId ? { sessionId } : {}).catch(() => {});
}
