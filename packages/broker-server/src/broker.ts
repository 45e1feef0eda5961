/**
 * `startBroker`: an HTTP broker over an `AuthStorage` (docs/broker-protocol.md). Refresh tokens stay in
 * this process's store; everything sent carries `refresh: "__remote__"`.
 */
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import {
	BROKER_PROTOCOL_VERSION,
	blockRequestSchema,
	buildOpenApiDocument,
	CAPABILITIES_HEADER,
	clientUsageQuerySchema,
	clientUsageReportSchema,
	credentialIdParamSchema,
	DEFAULT_BROKER_HOST,
	DEFAULT_BROKER_PORT,
	DEFAULT_MAX_BODY_BYTES,
	type DisabledCredentialSummary,
	disabledQuerySchema,
	disableRequestSchema,
	parseCapabilities,
	snapshotQuerySchema,
	upsertRequestSchema,
	usageHistoryQuerySchema,
	usageQuerySchema,
	usageStaleRequestSchema,
	type WireUsageReport,
} from "@authpool/broker-protocol";
import {
	AuthpoolError,
	type AuthStorage,
	type Clock,
	type DisabledCredentialSummary as DisabledCredential,
	type Logger,
	OAuthRefreshError,
	redactString,
	type StoredAuthCredential,
	type UsageReport,
} from "@authpool/core";
import { z } from "zod";
import { HttpError, parseWith, queryObject, readJsonBody, sendEmpty, sendJson, sendText } from "./http-io";
import { BrokerMetrics, type GaugeFamily } from "./metrics";
import { RateLimiter } from "./rate-limit";
import { type RefresherSchedule, visibleTo, wireEntry, wireSnapshot } from "./snapshot-view";
import { StreamHub } from "./stream-hub";
import { type BrokerPrincipal, type BrokerScope, type BrokerTokens, TokenTable } from "./tokens";

/** Options of `startBroker`. Validated at start. */
export interface BrokerOptions {
	/** The pool the broker serves (already `reload()`ed or not: the broker reloads it). */
	storage: AuthStorage;
	/** `"host:port"`, `"port"` or a port number; `0` picks a free port. @default "127.0.0.1:8765" */
	bind?: string | number;
	/**
	 * Bearer tokens by scope, as hashes (`hashBrokerToken`) or read from a file / env var. Without any
	 * token the broker serves only a loopback bind, and every caller is admin.
	 */
	tokens?: BrokerTokens;
	/** Serve HTTPS with this certificate and key (PEM files). */
	tls?: { certFile: string; keyFile: string };
	/** Serve `GET /metrics`. @default true */
	metrics?: boolean;
	/** @default silent */
	logger?: Logger;
	/** @default Date.now */
	clock?: Clock;
	/** Environment for `{ env }` tokens. @default process.env */
	env?: Record<string, string | undefined>;
	/** Largest request body in bytes. @default 65536 */
	maxBodyBytes?: number;
	/**
	 * Background refresher: every `intervalMs` rows expiring within `skewMs` are refreshed. `false`
	 * disables it. @default { intervalMs: 30_000, skewMs: 300_000 }
	 */
	refresher?: false | { intervalMs?: number; skewMs?: number };
	/** How often the store's change feed is checked (other replicas' writes). @default 250 */
	pollIntervalMs?: number;
	/** SSE keepalive period. @default 15_000 */
	keepaliveMs?: number;
	/** Age up to which `GET /v1/usage` answers from the broker's cache. @default 30_000 */
	usageCacheMs?: number;
	/**
	 * A forced refresh asked for within this long after the broker itself refreshed the row answers the
	 * fresh row instead of minting again (a client retrying a 401 cannot rotate a token in a loop). `0`
	 * disables it. @default 5_000
	 */
	refreshCooldownMs?: number;
	/** Per-token limit of refresh requests. `false` disables it. @default { perMinute: 60, burst: 20 } */
	refreshRateLimit?: false | { perMinute: number; burst?: number };
	/** Version string of `/v1/healthz` and the OpenAPI document. @default the package version */
	version?: string;
}

/** Options of `createBrokerHandler`: those of `startBroker` minus `bind` and `tls` (the server is yours). */
export type BrokerHandlerOptions = Omit<BrokerOptions, "bind" | "tls">;

/** The broker's routes, mounted in a server of your own. */
export interface BrokerHandler {
	/**
	 * Serve a request: resolves `false` (without touching the response) when its path is not a broker route
	 * (`/v1/...`, `/metrics`), `true` once answered. Never rejects: failures answer 500.
	 */
	handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
	/** End streams and long-polls, stop timers. The storage and the server stay open (the caller owns them). */
	close(): Promise<void>;
}

/** A running broker. */
export interface Broker {
	/** Base URL (`http://127.0.0.1:<port>` or `https://...`). */
	readonly url: string;
	readonly port: number;
	/** Stop accepting, end streams and long-polls, stop timers. The storage stays open (the caller owns it). */
	close(): Promise<void>;
}

const PACKAGE_VERSION = "0.0.0";

const duration = z.number().int().positive().max(2_147_483_647);
const optionsSchema = z.strictObject({
	storage: z.custom<AuthStorage>(
		(v) => typeof v === "object" && v !== null && typeof (v as AuthStorage).exportSnapshot === "function",
		"storage must be an AuthStorage",
	),
	bind: z.union([z.string().min(1), z.number().int().min(0).max(65_535)]).optional(),
	tokens: z.record(z.string(), z.array(z.looseObject({}))).optional(),
	tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
	metrics: z.boolean().optional(),
	logger: z.custom<Logger>((v) => typeof v === "object" && v !== null, "logger must be an object").optional(),
	clock: z.custom<Clock>((v) => typeof (v as Clock)?.now === "function", "clock must have now()").optional(),
	env: z.record(z.string(), z.union([z.string(), z.undefined()])).optional(),
	maxBodyBytes: z
		.number()
		.int()
		.min(1024)
		.max(16 * 1024 * 1024)
		.optional(),
	refresher: z
		.union([z.literal(false), z.strictObject({ intervalMs: duration.optional(), skewMs: duration.optional() })])
		.optional(),
	pollIntervalMs: duration.optional(),
	keepaliveMs: duration.optional(),
	usageCacheMs: duration.optional(),
	refreshCooldownMs: z.number().int().nonnegative().max(3_600_000).optional(),
	refreshRateLimit: z
		.union([
			z.literal(false),
			z.strictObject({ perMinute: z.number().positive(), burst: z.number().int().positive().optional() }),
		])
		.optional(),
	version: z.string().optional(),
});

const handlerOptionsSchema = optionsSchema.omit({ bind: true, tls: true });

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/i;

function parseBind(bind: string | number | undefined): { host: string; port: number } {
	if (bind === undefined) return { host: DEFAULT_BROKER_HOST, port: DEFAULT_BROKER_PORT };
	if (typeof bind === "number") return { host: DEFAULT_BROKER_HOST, port: bind };
	const text = bind.trim();
	if (/^\d+$/.test(text)) return { host: DEFAULT_BROKER_HOST, port: Number(text) };
	const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
	const port = Number(match?.[3]);
	if (!match || port > 65_535) {
		throw new AuthpoolError("INVALID_OPTIONS", 'startBroker: bind must be "host:port" or a port');
	}
	return { host: (match[1] ?? match[2])!, port };
}

const ANONYMOUS: BrokerPrincipal = {
	scope: "admin",
	name: "anonymous (loopback, no tokens)",
	key: "anonymous",
	providers: null,
};

/** Scopes allowed per route (admin may do everything). */
const ROUTE_SCOPES: Record<string, readonly BrokerScope[]> = {
	snapshot: ["admin", "client"],
	stream: ["admin", "client"],
	refresh: ["admin", "client"],
	block: ["admin", "client"],
	usage: ["admin", "client"],
	usageHistory: ["admin", "client"],
	usageStale: ["admin", "client"],
	usageObserved: ["admin", "client"],
	usageClients: ["admin", "client"],
	disable: ["admin"],
	unblock: ["admin"],
	upsert: ["admin"],
	disabled: ["admin"],
	metrics: ["admin", "metrics"],
};

interface Route {
	name: string;
	method: string;
	pattern: RegExp;
	/** `false`: public. */
	auth: boolean;
	handle(ctx: RequestContext): Promise<void>;
}

interface RequestContext {
	req: IncomingMessage;
	res: ServerResponse;
	url: URL;
	match: RegExpExecArray;
	principal: BrokerPrincipal;
	capabilities: Set<string>;
}

function fingerprintOf(access: string): string {
	return createHash("sha256").update(access, "utf8").digest("hex");
}

/**
 * Start a broker.
 * @throws AuthpoolError `INVALID_OPTIONS` for bad options, an empty/whitespace token, one token in two
 *   scopes, or a non-loopback bind without tokens; the listen error when the port is taken.
 * @example
 * const broker = await startBroker({ storage, bind: "0.0.0.0:8765", tokens: { client: [{ hash }], admin: [{ env: "BROKER_ADMIN_TOKEN" }] } });
 */
export async function startBroker(options: BrokerOptions): Promise<Broker> {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) {
		const issues = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
		throw new AuthpoolError("INVALID_OPTIONS", `startBroker: ${issues}`);
	}
	const { host, port } = parseBind(options.bind);
	const tokens = new TokenTable(options.tokens ?? {}, options.env ?? process.env);
	if (tokens.size === 0 && !LOOPBACK.test(host)) {
		throw new AuthpoolError(
			"INVALID_OPTIONS",
			`startBroker: refusing to bind ${host} without tokens (only a loopback bind may run unauthenticated)`,
		);
	}
	const { bind: _bind, tls: _tls, ...handlerOptions } = options;
	const core = await buildHandler(handlerOptions, tokens, "every loopback caller is admin");
	const { log } = core;

	let server: Server | undefined;
	try {
		server = options.tls
			? createHttpsServer(
					{ cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) },
					core.serve,
				)
			: createHttpServer(core.serve);
		// SSE streams outlive Node's default request timeouts; keepalive frames keep proxies from cutting them.
		server.requestTimeout = 0;
		server.headersTimeout = 30_000;
		server.keepAliveTimeout = 5_000;
		const listening = server;
		await new Promise<void>((resolve, reject) => {
			listening.once("error", reject);
			listening.listen(port, host, () => {
				listening.off("error", reject);
				resolve();
			});
		});
	} catch (error) {
		// Port taken, unreadable TLS files: nothing may keep running for a broker that never started.
		await core.close();
		throw error;
	}
	const started = server;
	started.on("clientError", (_error, socket) => {
		if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
		else socket.destroy();
	});
	const address = started.address() as AddressInfo;
	const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
	const url = `${options.tls ? "https" : "http"}://${urlHost}:${address.port}`;
	log("info", "broker listening", { url, tokens: tokens.size, instanceId: core.instanceId });

	let closed = false;
	return {
		url,
		port: address.port,
		async close() {
			if (closed) return;
			closed = true;
			await core.close();
			await new Promise<void>((resolve) => {
				started.close(() => resolve());
				started.closeAllConnections();
			});
		},
	};
}

/**
 * The broker's routes as a request handler, to serve the broker protocol from a server of your own (next
 * to other routes, on one port). Same options as `startBroker` minus `bind` and `tls`.
 * @throws AuthpoolError `INVALID_OPTIONS` for bad options, an empty/whitespace token or one token in two
 *   scopes. Without any token every caller is admin: only do that on a loopback-only server.
 * @example
 * const broker = await createBrokerHandler({ storage, tokens: { client: [{ hash }] } });
 * createServer(async (req, res) => {
 *   if (await broker.handle(req, res)) return;
 *   res.writeHead(404).end();
 * });
 */
export async function createBrokerHandler(options: BrokerHandlerOptions): Promise<BrokerHandler> {
	const parsed = handlerOptionsSchema.safeParse(options);
	if (!parsed.success) {
		const issues = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
		throw new AuthpoolError("INVALID_OPTIONS", `createBrokerHandler: ${issues}`);
	}
	const tokens = new TokenTable(options.tokens ?? {}, options.env ?? process.env);
	const core = await buildHandler(options, tokens, "every caller is admin");
	return {
		async handle(req, res) {
			if (!core.isBrokerPath(req.url)) return false;
			await core.serve(req, res).catch(() => {
				// The response could not even carry the 500: drop the connection.
				res.destroy();
			});
			return true;
		},
		close: core.close,
	};
}

interface HandlerCore {
	serve(req: IncomingMessage, res: ServerResponse): Promise<void>;
	isBrokerPath(url: string | undefined): boolean;
	close(): Promise<void>;
	instanceId: string;
	log(level: keyof Logger, message: string, fields?: Record<string, unknown>): void;
}

async function buildHandler(
	options: BrokerHandlerOptions,
	tokens: TokenTable,
	anonymousNote: string,
): Promise<HandlerCore> {
	const storage = options.storage;
	const clock = options.clock ?? { now: () => Date.now() };
	const logger = options.logger;
	const log = (level: keyof Logger, message: string, fields?: Record<string, unknown>) => {
		try {
			logger?.[level](message, fields);
		} catch {
			// A logger failure never fails a request.
		}
	};
	const safeMessage = (error: unknown) => scrubbedMessage(error, storage);
	if (tokens.size === 0) log("warn", `broker runs without tokens: ${anonymousNote}`);
	const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
	const metricsEnabled = options.metrics !== false;
	const version = options.version ?? PACKAGE_VERSION;
	const instanceId = randomUUID();
	const metrics = new BrokerMetrics();
	const refreshLimit =
		options.refreshRateLimit === false
			? null
			: new RateLimiter(options.refreshRateLimit?.perMinute ?? 60, options.refreshRateLimit?.burst ?? 20);
	const usageCacheMs = options.usageCacheMs ?? 30_000;
	const openapi = JSON.stringify(buildOpenApiDocument(version));

	const refresherOptions = options.refresher === false ? null : (options.refresher ?? {});
	const schedule: RefresherSchedule = {
		enabled: refresherOptions !== null,
		intervalMs: refresherOptions?.intervalMs ?? 30_000,
		skewMs: refresherOptions?.skewMs ?? 300_000,
		nextSweepAt: clock.now() + (refresherOptions?.intervalMs ?? 30_000),
	};

	await storage.reload();

	// ── change fan-out ──────────────────────────────────────────────────────
	const hub = new StreamHub({
		storage,
		instanceId,
		schedule: () => schedule,
		now: () => clock.now(),
		keepaliveMs: options.keepaliveMs ?? 15_000,
	});
	const waiters = new Set<() => void>();
	const unsubscribe = storage.onGenerationChanged(() => {
		hub.notify();
		noteRotations();
		for (const wake of [...waiters]) wake();
	});
	let polling = false;
	const poll = setInterval(() => {
		if (polling) return;
		polling = true;
		storage
			.pollChanges()
			.catch((error: unknown) => log("warn", "broker change poll failed", { error: safeMessage(error) }))
			.finally(() => {
				polling = false;
			});
	}, options.pollIntervalMs ?? 250);
	poll.unref?.();

	// ── refresh (single-flight per row, on top of core's) ───────────────────
	const inflight = new Map<number, ReturnType<AuthStorage["refreshCredentialById"]>>();
	const cooldownMs = options.refreshCooldownMs ?? 5_000;
	/** Rows refreshed lately (by this broker, or seen rotating through the shared store): new access fingerprint and when. */
	const refreshedAt = new Map<number, { fingerprint: string; at: number }>();
	/**
	 * Access fingerprints of the loaded rows. A known row whose access token changed was rotated (by a peer
	 * replica, or re-uploaded): the cooldown applies to it too, so replicas do not re-mint each other's work.
	 */
	const seenAccess = new Map<number, string>();
	let rotationCheckQueued = false;
	const scanRotations = () => {
		const now = clock.now();
		const present = new Set<number>();
		for (const row of storage.listStoredCredentials()) {
			if (row.credential.type !== "oauth") continue;
			present.add(row.id);
			const print = fingerprintOf(row.credential.access);
			const before = seenAccess.get(row.id);
			if (before !== undefined && before !== print && refreshedAt.get(row.id)?.fingerprint !== print) {
				refreshedAt.set(row.id, { fingerprint: print, at: now });
			}
			seenAccess.set(row.id, print);
		}
		for (const id of [...seenAccess.keys()]) {
			if (!present.has(id)) {
				seenAccess.delete(id);
				refreshedAt.delete(id);
			}
		}
	};
	function noteRotations(): void {
		if (rotationCheckQueued || cooldownMs === 0) return;
		rotationCheckQueued = true;
		setImmediate(() => {
			rotationCheckQueued = false;
			scanRotations();
		});
	}
	scanRotations();
	const refreshById = (id: number, trigger: "request" | "background") => {
		let flight = inflight.get(id);
		if (!flight && cooldownMs > 0) {
			const row = storage.listStoredCredentials().find((candidate) => candidate.id === id);
			const recent = refreshedAt.get(id);
			if (
				row?.credential.type === "oauth" &&
				recent &&
				recent.fingerprint === fingerprintOf(row.credential.access) &&
				clock.now() - recent.at < cooldownMs
			) {
				const entry = storage.exportSnapshot().credentials.find((candidate) => candidate.id === id);
				if (entry) return Promise.resolve(entry);
			}
		}
		if (!flight) {
			const provider = storage.listStoredCredentials().find((row) => row.id === id)?.provider ?? "unknown";
			flight = storage.refreshCredentialById(id).then(
				(entry) => {
					metrics.count("authpool_broker_refreshes_total", "OAuth refreshes, by outcome.", {
						provider,
						trigger,
						outcome: "ok",
					});
					if (entry.credential.type === "oauth") {
						refreshedAt.set(id, { fingerprint: fingerprintOf(entry.credential.access), at: clock.now() });
					}
					return entry;
				},
				(error: unknown) => {
					const outcome =
						error instanceof OAuthRefreshError
							? error.definitive
								? "definitive_failure"
								: "transient_failure"
							: AuthpoolError.isInstance(error) && (error.code === "NOT_FOUND" || error.code === "NO_CREDENTIAL")
								? "not_found"
								: "error";
					metrics.count("authpool_broker_refreshes_total", "OAuth refreshes, by outcome.", {
						provider,
						trigger,
						outcome,
					});
					throw error;
				},
			);
			const settled = flight.finally(() => inflight.delete(id));
			settled.catch(() => {});
			inflight.set(id, flight);
		}
		return flight;
	};

	let sweeping = false;
	const sweep = async () => {
		if (sweeping) return;
		sweeping = true;
		try {
			await storage.pollChanges();
			const now = clock.now();
			for (const row of storage.listStoredCredentials()) {
				if (closed) break;
				const credential = row.credential;
				if (credential.type !== "oauth" || !Number.isFinite(credential.expires)) continue;
				if (credential.expires - schedule.skewMs > now) continue;
				await refreshById(row.id, "background").catch((error: unknown) => {
					log("warn", "background refresh failed", {
						provider: row.provider,
						credentialId: row.id,
						error: safeMessage(error),
					});
				});
			}
		} catch (error) {
			log("warn", "background refresh sweep failed", { error: safeMessage(error) });
		} finally {
			sweeping = false;
			schedule.nextSweepAt = clock.now() + schedule.intervalMs;
		}
	};
	const sweeper = schedule.enabled ? setInterval(() => void sweep(), schedule.intervalMs) : undefined;
	sweeper?.unref?.();

	// ── usage cache ─────────────────────────────────────────────────────────
	let usageCache: { at: number; reports: UsageReport[] } | undefined;
	let usageFlight: Promise<{ at: number; reports: UsageReport[] }> | undefined;
	const usageReports = (maxAgeMs: number) => {
		if (usageCache && clock.now() - usageCache.at <= maxAgeMs) return Promise.resolve(usageCache);
		usageFlight ??= storage
			.fetchUsageReports()
			.then((reports) => {
				usageCache = { at: clock.now(), reports };
				return usageCache;
			})
			.finally(() => {
				usageFlight = undefined;
			});
		return usageFlight;
	};

	// ── routes ──────────────────────────────────────────────────────────────
	const idOf = (ctx: RequestContext) => parseWith(credentialIdParamSchema, ctx.match[1], "credential id");
	const visibleRow = async (ctx: RequestContext, id: number): Promise<StoredAuthCredential> => {
		await storage.pollChanges();
		const row = storage.listStoredCredentials().find((candidate) => candidate.id === id);
		// Another tenant's row answers exactly like a missing one.
		if (!row || !visibleTo(ctx.principal, row.provider)) throw new HttpError(404, `No credential with id ${id}`);
		return row;
	};
	const body = async (ctx: RequestContext) => readJsonBody(ctx.req, maxBodyBytes);
	const query = <S extends z.ZodType>(ctx: RequestContext, schema: S) =>
		parseWith(schema, queryObject(ctx.url.searchParams), "query");
	const noQuery = (ctx: RequestContext) => query(ctx, z.strictObject({}));

	/** Refresh routes (token and usage) share one bucket per token: each can make the broker call a provider. */
	const limitRefreshes = (ctx: RequestContext) => {
		const waitMs = refreshLimit?.take(ctx.principal.key, clock.now()) ?? 0;
		if (waitMs > 0) {
			throw new HttpError(429, "Refresh rate limit exceeded", {
				"retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))),
			});
		}
	};

	const routes: Route[] = [
		{
			name: "health",
			method: "GET",
			pattern: /^\/v1\/healthz$/,
			auth: false,
			handle: async ({ res }) => sendJson(res, 200, { ok: true, version, protocol: BROKER_PROTOCOL_VERSION }),
		},
		{
			name: "openapi",
			method: "GET",
			pattern: /^\/v1\/openapi\.json$/,
			auth: false,
			handle: async ({ res }) => sendText(res, 200, openapi, "application/json; charset=utf-8"),
		},
		{
			name: "snapshot",
			method: "GET",
			pattern: /^\/v1\/snapshot$/,
			auth: true,
			handle: async (ctx) => {
				const { wait = 0 } = query(ctx, snapshotQuerySchema);
				await storage.pollChanges();
				const tag = /^(?:W\/)?"?(\d{1,16})"?$/.exec(String(ctx.req.headers["if-none-match"] ?? "").trim());
				const known = tag ? Number(tag[1]) : undefined;
				const headers = { vary: CAPABILITIES_HEADER, "cache-control": "no-store" };
				if (known !== undefined && known === storage.getGeneration()) {
					if (wait > 0) {
						const aborted = await waitForChange(ctx, known, wait);
						if (aborted) return;
					}
					if (storage.getGeneration() === known) {
						sendEmpty(ctx.res, 304, { ...headers, etag: `"${known}"` });
						return;
					}
				}
				const snapshot = wireSnapshot(
					storage.exportSnapshot(),
					instanceId,
					ctx.principal,
					schedule,
					clock.now(),
					ctx.capabilities.has("block-scopes"),
				);
				sendJson(ctx.res, 200, snapshot, { ...headers, etag: `"${snapshot.generation}"` });
			},
		},
		{
			name: "stream",
			method: "GET",
			pattern: /^\/v1\/snapshot\/stream$/,
			auth: true,
			handle: async (ctx) => {
				noQuery(ctx);
				await storage.pollChanges();
				ctx.req.socket.setTimeout(0);
				hub.open(ctx.res, ctx.principal, ctx.capabilities.has("entry-diffs"), ctx.capabilities.has("block-scopes"));
			},
		},
		{
			name: "refresh",
			method: "POST",
			pattern: /^\/v1\/credential\/([^/]+)\/refresh$/,
			auth: true,
			handle: async (ctx) => {
				const id = idOf(ctx);
				limitRefreshes(ctx);
				const row = await visibleRow(ctx, id);
				if (row.credential.type !== "oauth") throw new HttpError(409, `Credential ${id} is not OAuth`);
				try {
					const entry = await refreshById(id, "request");
					sendJson(ctx.res, 200, {
						entry: wireEntry(entry, schedule, clock.now(), ctx.capabilities.has("block-scopes")),
					});
				} catch (error) {
					throw refreshHttpError(error, id);
				}
			},
		},
		{
			name: "disable",
			method: "POST",
			pattern: /^\/v1\/credential\/([^/]+)\/disable$/,
			auth: true,
			handle: async (ctx) => {
				const id = idOf(ctx);
				const request = parseWith(disableRequestSchema, (await body(ctx)) ?? {}, "body");
				const row = await visibleRow(ctx, id);
				const cause = request.cause ?? "disabled via broker";
				if (request.expectedAccessFingerprint !== undefined) {
					if (
						row.credential.type !== "oauth" ||
						fingerprintOf(row.credential.access) !== request.expectedAccessFingerprint
					) {
						throw new HttpError(412, "Credential changed since the caller's view");
					}
					const ok = await storage.disableCredentialById(id, cause, { expectedVersion: row.version });
					if (!ok) throw new HttpError(412, "Credential changed since the caller's view");
				} else if (!(await storage.disableCredentialById(id, cause))) {
					throw new HttpError(404, `No credential with id ${id}`);
				}
				sendJson(ctx.res, 200, { ok: true });
			},
		},
		{
			name: "block",
			method: "POST",
			pattern: /^\/v1\/credential\/([^/]+)\/block$/,
			auth: true,
			handle: async (ctx) => {
				const id = idOf(ctx);
				const raw = await body(ctx);
				if (raw === undefined) throw new HttpError(400, "Request body required");
				const request = parseWith(blockRequestSchema, raw, "body");
				const row = await visibleRow(ctx, id);
				if (!request.providerKey.startsWith(`${row.provider}:`)) {
					throw new HttpError(400, "Invalid body: providerKey must be <provider>:<type> of the credential");
				}
				const until = await storage.blockCredentialById(id, {
					providerKey: request.providerKey,
					scope: request.blockScope ?? "",
					blockedUntil: request.blockedUntilMs,
				});
				if (until === null) throw new HttpError(404, `No credential with id ${id}`);
				metrics.count("authpool_broker_blocks_total", "Blocks set through the broker.", { provider: row.provider });
				sendJson(ctx.res, 200, { ok: true, blockedUntilMs: Math.max(0, Math.round(until)) });
			},
		},
		{
			name: "unblock",
			method: "DELETE",
			pattern: /^\/v1\/credential\/([^/]+)\/blocks$/,
			auth: true,
			handle: async (ctx) => {
				const id = idOf(ctx);
				await visibleRow(ctx, id);
				if (!(await storage.unblockCredentialById(id))) throw new HttpError(404, `No credential with id ${id}`);
				sendJson(ctx.res, 200, { ok: true });
			},
		},
		{
			name: "upsert",
			method: "POST",
			pattern: /^\/v1\/credential$/,
			auth: true,
			handle: async (ctx) => {
				const raw = await body(ctx);
				if (raw === undefined) throw new HttpError(400, "Request body required");
				const request = parseWith(upsertRequestSchema, raw, "body");
				if (!visibleTo(ctx.principal, request.provider)) throw new HttpError(403, "forbidden");
				const now = clock.now();
				const blockScopes = ctx.capabilities.has("block-scopes");
				if (request.ifProviderAbsent) {
					if (request.credential.type !== "api_key") {
						throw new HttpError(400, "Invalid body: ifProviderAbsent applies to API keys only");
					}
					const result = await storage.insertCredentialIfProviderAbsent(request.provider, request.credential);
					const written = request.credential.key;
					const id = result.inserted
						? result.entries.find((entry) => entry.credential.type === "api_key" && entry.credential.key === written)
								?.id
						: undefined;
					sendJson(ctx.res, 200, {
						entries: result.entries.map((entry) => wireEntry(entry, schedule, now, blockScopes)),
						...(id !== undefined ? { id } : {}),
						inserted: result.inserted,
					});
					return;
				}
				const entries = await storage.upsertCredential(request.provider, request.credential);
				const written = request.credential;
				const match = entries.find((entry) =>
					entry.credential.type === "oauth"
						? written.type === "oauth" && entry.credential.access === written.access
						: written.type === "api_key" && entry.credential.key === written.key,
				);
				sendJson(ctx.res, 200, {
					entries: entries.map((entry) => wireEntry(entry, schedule, now, blockScopes)),
					id: match?.id ?? Math.max(...entries.map((entry) => entry.id)),
				});
			},
		},
		{
			name: "usage",
			method: "GET",
			pattern: /^\/v1\/usage$/,
			auth: true,
			handle: async (ctx) => {
				const { maxAgeMs } = query(ctx, usageQuerySchema);
				let cached: { at: number; reports: UsageReport[] };
				try {
					cached = await usageReports(maxAgeMs ?? usageCacheMs);
				} catch (error) {
					log("warn", "usage fan-out failed", { error: safeMessage(error) });
					throw new HttpError(502, "Usage fetch failed");
				}
				const reports: WireUsageReport[] = cached.reports
					.filter((report) => visibleTo(ctx.principal, report.provider))
					.map(({ raw: _raw, ...report }) => report as WireUsageReport);
				sendJson(ctx.res, 200, { generatedAt: cached.at, reports });
			},
		},
		{
			name: "usageStale",
			method: "POST",
			pattern: /^\/v1\/usage\/stale$/,
			auth: true,
			handle: async (ctx) => {
				noQuery(ctx);
				const request = parseWith(usageStaleRequestSchema, (await body(ctx)) ?? {}, "body");
				if (request.provider !== undefined && !visibleTo(ctx.principal, request.provider)) {
					throw new HttpError(403, "forbidden");
				}
				limitRefreshes(ctx);
				const scoped = ctx.principal.providers;
				if (request.provider !== undefined) {
					await storage.invalidateUsageCache({ provider: request.provider });
				} else if (scoped === null) {
					await storage.invalidateUsageCache();
				} else {
					for (const provider of scoped) await storage.invalidateUsageCache({ provider });
				}
				// The aggregate goes too (other providers' reports are then re-read from the cache below it).
				usageCache = undefined;
				sendJson(ctx.res, 200, { ok: true });
			},
		},
		{
			name: "usageObserved",
			method: "POST",
			pattern: /^\/v1\/usage\/observed$/,
			auth: true,
			handle: async (ctx) => {
				noQuery(ctx);
				const raw = await body(ctx);
				if (raw === undefined) throw new HttpError(400, "Request body required");
				const report = parseWith(clientUsageReportSchema, raw, "body");
				if (report.entries.some((entry) => !visibleTo(ctx.principal, entry.provider))) {
					throw new HttpError(403, "forbidden");
				}
				if (!(await storage.recordClientUsageReport(report))) {
					throw new HttpError(501, "broker store does not persist client usage");
				}
				sendJson(ctx.res, 200, { ok: true });
			},
		},
		{
			name: "usageClients",
			method: "GET",
			pattern: /^\/v1\/usage\/clients$/,
			auth: true,
			handle: async (ctx) => {
				const { sinceMs } = query(ctx, clientUsageQuerySchema);
				const summaries = await storage.listClientUsage(sinceMs !== undefined ? { sinceMs } : undefined);
				const clients = summaries
					.map((summary) => ({
						...summary,
						providers: summary.providers.filter((totals) => visibleTo(ctx.principal, totals.provider)),
					}))
					.filter((summary) => summary.providers.length > 0);
				sendJson(ctx.res, 200, { generatedAt: clock.now(), clients });
			},
		},
		{
			name: "usageHistory",
			method: "GET",
			pattern: /^\/v1\/usage\/history$/,
			auth: true,
			handle: async (ctx) => {
				const q = query(ctx, usageHistoryQuerySchema);
				if (q.provider !== undefined && !visibleTo(ctx.principal, q.provider)) throw new HttpError(403, "forbidden");
				const entries = await storage.listUsageHistory({
					...(q.provider !== undefined ? { provider: q.provider } : {}),
					...(q.sinceMs !== undefined ? { sinceMs: q.sinceMs } : {}),
				});
				sendJson(ctx.res, 200, {
					generatedAt: clock.now(),
					entries: entries.filter((entry) => visibleTo(ctx.principal, entry.provider)),
				});
			},
		},
		{
			name: "disabled",
			method: "GET",
			pattern: /^\/v1\/credentials\/disabled$/,
			auth: true,
			handle: async (ctx) => {
				const { provider } = query(ctx, disabledQuerySchema);
				const rows = await storage.listDisabledCredentials(provider);
				sendJson(ctx.res, 200, { generatedAt: clock.now(), disabled: rows.map(disabledSummary) });
			},
		},
		{
			name: "metrics",
			method: "GET",
			pattern: /^\/metrics$/,
			auth: true,
			handle: async (ctx) => {
				if (!metricsEnabled) throw new HttpError(404, "No route: GET /metrics");
				if (usageCache === undefined || clock.now() - usageCache.at > usageCacheMs) {
					// Scrapes never wait on providers: refresh the cache in the background.
					void usageReports(usageCacheMs).catch(() => {});
				}
				sendText(ctx.res, 200, metrics.render(gauges()), "text/plain; version=0.0.4; charset=utf-8");
			},
		},
	];

	const gauges = (): GaugeFamily[] => {
		const rows = storage.listStoredCredentials();
		const counts = new Map<string, { provider: string; type: string; value: number }>();
		for (const row of rows) {
			const key = `${row.provider}\0${row.credential.type}`;
			const entry = counts.get(key) ?? { provider: row.provider, type: row.credential.type, value: 0 };
			entry.value += 1;
			counts.set(key, entry);
		}
		const blocks = new Map<string, number>();
		for (const entry of storage.exportSnapshot().credentials) {
			if (entry.blocks.length > 0) blocks.set(entry.provider, (blocks.get(entry.provider) ?? 0) + 1);
		}
		const fractions: GaugeFamily["samples"] = [];
		for (const report of usageCache?.reports ?? []) {
			const metadata = report.metadata ?? {};
			const account = String(metadata.accountId ?? metadata.email ?? "unidentified")
				.trim()
				.toLowerCase();
			for (const limit of report.limits) {
				if (typeof limit.amount.usedFraction !== "number") continue;
				fractions.push({
					labels: { provider: report.provider, account, limit_id: limit.id, window: limit.window?.id ?? "" },
					value: limit.amount.usedFraction,
				});
			}
		}
		return [
			{
				name: "authpool_broker_credentials",
				help: "Active credentials, by provider and type.",
				samples: [...counts.values()].map((c) => ({ labels: { provider: c.provider, type: c.type }, value: c.value })),
			},
			{
				name: "authpool_broker_blocked_credentials",
				help: "Credentials with at least one live block, by provider.",
				samples: [...blocks].map(([provider, value]) => ({ labels: { provider }, value })),
			},
			{
				name: "authpool_broker_stream_clients",
				help: "Connected SSE streams.",
				samples: [{ labels: {}, value: hub.size }],
			},
			{
				name: "authpool_broker_generation",
				help: "Generation of the served snapshot.",
				samples: [{ labels: {}, value: storage.getGeneration() }],
			},
			{
				name: "authpool_usage_limit_used_fraction",
				help: "Used fraction of each usage limit (last cached report).",
				samples: fractions,
			},
		];
	};

	/** Long-poll: resolves `true` when the caller went away, `false` on a change or the deadline. */
	const waitForChange = (ctx: RequestContext, known: number, waitMs: number) =>
		new Promise<boolean>((resolve) => {
			let done = false;
			const finish = (aborted: boolean) => {
				if (done) return;
				done = true;
				clearTimeout(timer);
				waiters.delete(wake);
				ctx.res.off("close", onClose);
				resolve(aborted);
			};
			const wake = () => {
				if (storage.getGeneration() !== known) finish(false);
			};
			const onClose = () => finish(true);
			const timer = setTimeout(() => finish(false), waitMs);
			waiters.add(wake);
			ctx.res.on("close", onClose);
			if (closed) finish(false);
		});

	// ── dispatch ────────────────────────────────────────────────────────────
	let closed = false;
	const serve = (req: IncomingMessage, res: ServerResponse): Promise<void> => {
		const started = performance.now();
		let routeName = "unknown";
		const finish = () => {
			const seconds = (performance.now() - started) / 1000;
			metrics.observeRequest(routeName, req.method ?? "", res.statusCode, seconds);
			log("debug", "broker request", {
				method: req.method,
				route: routeName,
				status: res.statusCode,
				ms: Math.round(seconds * 1000),
				peer: req.socket.remoteAddress ?? "unknown",
			});
		};
		res.on("finish", finish);
		return dispatch(req, res, (name) => {
			routeName = name;
		}).catch((error: unknown) => {
			if (error instanceof HttpError) {
				if (error.status === 413) res.setHeader("connection", "close");
				sendJson(res, error.status, { error: error.message }, error.headers);
				if (error.status === 413) req.resume();
				return;
			}
			log("error", "broker request failed", { route: routeName, error: safeMessage(error) });
			sendJson(res, 500, { error: "internal error" });
		});
	};

	const dispatch = async (req: IncomingMessage, res: ServerResponse, named: (name: string) => void) => {
		let url: URL;
		try {
			url = new URL(req.url ?? "/", "http://broker.invalid");
		} catch {
			throw new HttpError(400, "Invalid request URL");
		}
		const method = req.method ?? "GET";
		let match: RegExpExecArray | null = null;
		let route: Route | undefined;
		let pathMatched = false;
		for (const candidate of routes) {
			const m = candidate.pattern.exec(url.pathname);
			if (!m) continue;
			pathMatched = true;
			if (candidate.method === method) {
				route = candidate;
				match = m;
				break;
			}
		}
		if (!route || !match) {
			const path = url.pathname.length > 200 ? `${url.pathname.slice(0, 200)}…` : url.pathname;
			throw new HttpError(
				pathMatched ? 405 : 404,
				redactString(`No route: ${method.slice(0, 16)} ${path.replace(/[^\x20-\x7e]/g, "?")}`),
			);
		}
		named(route.name);
		let principal = ANONYMOUS;
		if (route.auth) {
			if (tokens.size > 0) {
				const found = tokens.authenticate(req.headers.authorization);
				if (!found) throw new HttpError(401, "unauthorized", { "www-authenticate": 'Bearer realm="authpool-broker"' });
				principal = found;
			}
			if (!ROUTE_SCOPES[route.name]?.includes(principal.scope)) throw new HttpError(403, "forbidden");
		}
		const header = req.headers[CAPABILITIES_HEADER.toLowerCase()];
		const capabilities = parseCapabilities(Array.isArray(header) ? header.join(",") : header);
		await route.handle({ req, res, url, match, principal, capabilities });
	};

	const isBrokerPath = (raw: string | undefined) => {
		let pathname: string;
		try {
			pathname = new URL(raw ?? "/", "http://broker.invalid").pathname;
		} catch {
			return false;
		}
		return routes.some((route) => route.pattern.test(pathname));
	};

	return {
		serve,
		isBrokerPath,
		instanceId,
		log,
		async close() {
			if (closed) return;
			closed = true;
			clearInterval(poll);
			if (sweeper) clearInterval(sweeper);
			unsubscribe();
			for (const wake of [...waiters]) wake();
			waiters.clear();
			hub.close();
		},
	};
}

/** An error's message for a log line: every secret the pool holds replaced, then token shapes masked. */
function scrubbedMessage(error: unknown, storage: AuthStorage): string {
	let text = error instanceof Error ? error.message : String(error);
	const secrets: string[] = [];
	for (const row of storage.listStoredCredentials()) {
		const c = row.credential;
		if (c.type === "oauth") secrets.push(c.access, c.refresh);
		else secrets.push(c.key);
	}
	for (const secret of secrets
		.filter((v) => typeof v === "string" && v.length >= 8)
		.sort((a, b) => b.length - a.length)) {
		text = text.split(secret).join("[redacted]");
	}
	return redactString(text);
}

/** The pool's tombstone summary (identity fields only, never token bytes) in the wire shape. */
function disabledSummary(row: DisabledCredential): DisabledCredentialSummary {
	const summary: DisabledCredentialSummary = {
		id: row.credentialId,
		provider: row.provider,
		type: row.credentialType,
		disabledCause: row.disabledCause,
		disabledAtMs: row.disabledAt === null ? null : Math.max(0, Math.round(row.disabledAt)),
	};
	if (row.email !== undefined) summary.email = row.email;
	if (row.accountId !== undefined) summary.accountId = row.accountId;
	return summary;
}

/**
 * A refresh failure as an HTTP answer. The provider's own text is never passed on (token endpoints
 * echo request fields); only the OAuth error code, when it looks like one.
 */
function refreshHttpError(error: unknown, id: number): HttpError {
	if (error instanceof HttpError) return error;
	if (error instanceof OAuthRefreshError) {
		const code = error.errorCode && /^[a-z_]{1,64}$/.test(error.errorCode) ? ` (${error.errorCode})` : "";
		return new HttpError(
			502,
			error.definitive ? `Refresh refused by the provider${code}: credential disabled` : `Refresh failed${code}`,
		);
	}
	if (AuthpoolError.isInstance(error)) {
		if (error.code === "NOT_FOUND" || error.code === "NO_CREDENTIAL") {
			return new HttpError(404, `No credential with id ${id}`);
		}
		if (error.code === "TIMEOUT") return new HttpError(504, "Refresh timed out");
		if (error.code === "OAUTH_NOT_SUPPORTED") return new HttpError(409, `Credential ${id} cannot be refreshed here`);
		if (error.code === "OAUTH_REFRESH_FAILED") return new HttpError(502, "Refresh failed");
	}
	return new HttpError(500, "internal error");
}
