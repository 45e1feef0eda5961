/**
 * The broker process: one HTTP(S) server that serves the admin dashboard (static page + its own JSON and
 * SSE API over an `AuthStorage`) and, through `mountBroker`, the broker protocol routes.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import {
	type AuthCredentialStore,
	AuthpoolError,
	type AuthStorage,
	invalidOptions,
	type Logger,
	silentLogger,
	type UsageReport,
} from "@authpool/core";
import { z } from "zod";
import { createAdminTokenVerifier, parseAdminTokenHashes } from "./admin-auth";
import { isAssetPath, loadAsset } from "./assets";
import { isLoopbackHost, parseBind } from "./bind-address";
import { buildDashboardState, historyPoints } from "./dashboard-state";
import { createEventLog, type DashboardEvent } from "./event-log";

/** A handler of requests the dashboard does not own; resolves `true` when it answered. */
export type BrokerRouteHandler = (request: IncomingMessage, response: ServerResponse) => boolean | Promise<boolean>;

/** What `mountBroker` receives: the app's storage and server, to plug the broker protocol in. */
export interface BrokerMountContext {
	storage: AuthStorage;
	server: Server;
	logger: Logger;
}

export interface BrokerAppOptions {
	/** The pool the app serves (loaded with `reload()` by the caller or by the app at start). */
	storage: AuthStorage;
	/** The storage's store: lets the dashboard list disabled accounts (tombstones) too. */
	store?: AuthCredentialStore;
	/** `host:port`, `[v6]:port` or `:port`. @default "127.0.0.1:8765" */
	bind?: string;
	/**
	 * sha256 hex of each admin token (array, or one comma-separated string). Required unless the bind is
	 * loopback; with none on loopback the dashboard is open to local users.
	 * @default []
	 */
	adminTokenHashes?: readonly string[] | string;
	/** PEM certificate chain and key: serve HTTPS. */
	tls?: { cert: string | Buffer; key: string | Buffer };
	/** @default silent */
	logger?: Logger;
	/** How often the dashboard looks for changes from other processes, blocks and expiries. @default 1_000 */
	pollIntervalMs?: number;
	/** How often usage reports are fetched from the providers (0: only on `/api/usage/refresh`). @default 300_000 */
	usageIntervalMs?: number;
	/** Recent events kept in memory. @default 200 */
	eventCapacity?: number;
	/** Time source. @default Date.now */
	now?: () => number;
	/**
	 * The seam for the broker protocol: called once the server exists; a returned handler is offered every
	 * request the dashboard does not own (the broker's `/v1/...` routes) before the 404.
	 */
	mountBroker?: (
		context: BrokerMountContext,
	) => BrokerRouteHandler | undefined | Promise<BrokerRouteHandler | undefined>;
}

export interface BrokerApp {
	/** `http(s)://host:port` actually bound. */
	url: string;
	/** Stop serving, end live streams and the timers. The storage is the caller's to close. */
	close(): Promise<void>;
}

const optionsSchema = z.object({
	storage: z.custom<AuthStorage>(
		(value) => typeof value === "object" && value !== null && "exportSnapshot" in value,
		"must be an AuthStorage",
	),
	store: z.custom<AuthCredentialStore>((value) => typeof value === "object" && value !== null).optional(),
	bind: z.string().min(1).optional(),
	adminTokenHashes: z.union([z.string(), z.array(z.string())]).optional(),
	tls: z
		.object({
			cert: z.union([z.string().min(1), z.instanceof(Buffer)]),
			key: z.union([z.string().min(1), z.instanceof(Buffer)]),
		})
		.optional(),
	logger: z.custom<Logger>((value) => typeof value === "object" && value !== null).optional(),
	pollIntervalMs: z.number().int().min(10).max(3_600_000).optional(),
	usageIntervalMs: z.number().int().min(0).optional(),
	eventCapacity: z.number().int().min(1).max(100_000).optional(),
	now: z.function().optional(),
	mountBroker: z.function().optional(),
});

const SECURITY_HEADERS: Record<string, string> = {
	"x-content-type-options": "nosniff",
	"referrer-policy": "no-referrer",
	"x-frame-options": "DENY",
	"content-security-policy":
		"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

const DAY_MS = 86_400_000;

function sendJson(response: ServerResponse, status: number, body: unknown): void {
	const text = JSON.stringify(body);
	response.writeHead(status, {
		...SECURITY_HEADERS,
		"content-type": "application/json; charset=utf-8",
		"cache-control": "no-store",
		"content-length": Buffer.byteLength(text),
	});
	response.end(text);
}

/**
 * Start the broker app.
 *
 * @example
 * const storage = new AuthStorage(await createSqliteStore({ path }), { providers });
 * await storage.reload();
 * const app = await startBrokerApp({ storage, bind: "0.0.0.0:8765", adminTokenHashes: [hashAdminToken(token)] });
 * @throws AuthpoolError `INVALID_OPTIONS` on bad options, or a non-loopback bind without admin tokens.
 */
export async function startBrokerApp(options: BrokerAppOptions): Promise<BrokerApp> {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) throw invalidOptions("startBrokerApp", parsed.error.issues);
	const storage = options.storage;
	const logger = options.logger ?? silentLogger;
	const now = options.now ?? Date.now;
	const bind = parseBind(options.bind ?? "127.0.0.1:8765");
	const hashes =
		typeof options.adminTokenHashes === "string"
			? parseAdminTokenHashes(options.adminTokenHashes)
			: parseAdminTokenHashes((options.adminTokenHashes ?? []).join(","));
	const open = hashes.length === 0;
	if (open && !isLoopbackHost(bind.host)) {
		throw new AuthpoolError(
			"INVALID_OPTIONS",
			`refusing to serve on non-loopback ${bind.host} without admin tokens (set adminTokenHashes)`,
		);
	}
	if (open) logger.warn("no admin tokens: the dashboard is open to every local user", { host: bind.host });
	const verify = createAdminTokenVerifier(hashes);
	const authorized = (request: IncomingMessage) => open || verify(request.headers.authorization);

	const events = createEventLog(storage, { capacity: options.eventCapacity ?? 200, now });
	let reports: UsageReport[] = [];
	let usageFetchedAt: number | undefined;
	let usageFlight: Promise<void> | undefined;
	const fetchUsage = (): Promise<void> => {
		usageFlight ??= storage
			.fetchUsageReports()
			.then(
				(fetched) => {
					reports = fetched.map(({ raw: _raw, ...report }) => report);
					usageFetchedAt = now();
				},
				(error: unknown) => {
					logger.warn("usage fetch failed", { code: AuthpoolError.isInstance(error) ? error.code : "UNKNOWN" });
				},
			)
			.finally(() => {
				usageFlight = undefined;
			});
		return usageFlight;
	};

	const state = async () => ({
		...(await buildDashboardState(storage, { store: options.store, reports, now: now() })),
		generatedAt: now(),
		usageFetchedAt,
	});

	// Live streams: each gets `state` when the view changes and every new event as it happens.
	const streams = new Set<ServerResponse>();
	let lastStateText = "";
	const broadcast = (name: string, data: unknown) => {
		const frame = `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
		for (const stream of streams) stream.write(frame);
	};
	const offEvents = events.subscribe((event: DashboardEvent) => broadcast("event", event));
	let ticking = false;
	let closed = false;
	const tick = async () => {
		if (ticking || closed) return;
		ticking = true;
		try {
			await storage.pollChanges();
			events.observe();
			if (streams.size === 0) return;
			const { generatedAt: _at, ...view } = await state();
			const text = JSON.stringify(view);
			if (text !== lastStateText) {
				lastStateText = text;
				broadcast("state", { ...view, generatedAt: now() });
			}
		} catch (error) {
			logger.warn("dashboard poll failed", { code: AuthpoolError.isInstance(error) ? error.code : "UNKNOWN" });
		} finally {
			ticking = false;
		}
	};
	const pollTimer = setInterval(() => void tick(), options.pollIntervalMs ?? 1_000);
	pollTimer.unref();
	const usageIntervalMs = options.usageIntervalMs ?? 300_000;
	const usageTimer =
		usageIntervalMs > 0
			? setInterval(() => {
					void fetchUsage().then(tick);
				}, usageIntervalMs)
			: undefined;
	usageTimer?.unref();
	void fetchUsage().then(tick);

	let brokerHandler: BrokerRouteHandler | undefined;

	const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
		const url = new URL(request.url ?? "/", "http://app.invalid");
		const path = url.pathname;
		const method = request.method ?? "GET";
		// Public: load balancers probe it, and the page learns whether it must ask for a token.
		if (path === "/healthz") return sendJson(response, 200, { ok: true, auth: open ? "none" : "token" });
		if (isAssetPath(path)) {
			if (method !== "GET" && method !== "HEAD") return sendJson(response, 405, { error: "method not allowed" });
			const asset = await loadAsset(path);
			response.writeHead(200, {
				...SECURITY_HEADERS,
				"content-type": asset.contentType,
				"content-length": asset.body.length,
				"cache-control": "no-cache",
			});
			response.end(method === "HEAD" ? undefined : asset.body);
			return;
		}
		if (path.startsWith("/api/")) {
			if (!authorized(request)) {
				return sendJson(response, 401, { error: "admin token required (Authorization: Bearer <token>)" });
			}
			return api(request, response, url, method);
		}
		if (brokerHandler && (await brokerHandler(request, response))) return;
		sendJson(response, 404, { error: "not found" });
	};

	const api = async (request: IncomingMessage, response: ServerResponse, url: URL, method: string) => {
		const path = url.pathname;
		const route = `${method} ${path}`;
		switch (route) {
			case "GET /api/session":
				return sendJson(response, 200, { ok: true, auth: open ? "none" : "token" });
			case "GET /api/state":
				return sendJson(response, 200, await state());
			case "GET /api/events":
				return sendJson(response, 200, { events: events.recent() });
			case "GET /api/history": {
				const since = url.searchParams.get("sinceMs");
				const sinceMs = since === null ? now() - 7 * DAY_MS : Number(since);
				const provider = url.searchParams.get("provider") ?? undefined;
				if (!Number.isFinite(sinceMs) || sinceMs < 0) {
					return sendJson(response, 400, { error: "sinceMs must be a non-negative number (epoch ms)" });
				}
				if (provider !== undefined && !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(provider)) {
					return sendJson(response, 400, { error: "provider must be a provider id" });
				}
				const entries = await storage.listUsageHistory({ sinceMs, ...(provider ? { provider } : {}) });
				return sendJson(response, 200, { points: historyPoints(entries, storage.listStoredCredentials()) });
			}
			case "POST /api/usage/refresh":
				await fetchUsage();
				await tick();
				return sendJson(response, 200, await state());
			case "GET /api/stream":
				return openStream(request, response);
			default: {
				const known = [
					"/api/session",
					"/api/state",
					"/api/events",
					"/api/history",
					"/api/usage/refresh",
					"/api/stream",
				];
				if (known.includes(path)) return sendJson(response, 405, { error: "method not allowed" });
				return sendJson(response, 404, { error: "not found" });
			}
		}
	};

	const openStream = async (request: IncomingMessage, response: ServerResponse) => {
		response.writeHead(200, {
			...SECURITY_HEADERS,
			"content-type": "text/event-stream; charset=utf-8",
			"cache-control": "no-store",
			connection: "keep-alive",
			"x-accel-buffering": "no",
		});
		const current = await state();
		response.write(`retry: 2000\nevent: state\ndata: ${JSON.stringify(current)}\n\n`);
		streams.add(response);
		const heartbeat = setInterval(() => response.write(": keep-alive\n\n"), 15_000);
		heartbeat.unref();
		request.on("close", () => {
			clearInterval(heartbeat);
			streams.delete(response);
		});
	};

	const listener = (request: IncomingMessage, response: ServerResponse) => {
		handle(request, response).catch((error: unknown) => {
			logger.error("dashboard request failed", {
				path: request.url?.split("?")[0],
				code: AuthpoolError.isInstance(error) ? error.code : "UNKNOWN",
			});
			if (!response.headersSent) sendJson(response, 500, { error: "internal error" });
			else response.end();
		});
	};
	const server: Server = options.tls
		? (createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener) as unknown as Server)
		: createHttpServer(listener);

	const cleanup = () => {
		clearInterval(pollTimer);
		if (usageTimer) clearInterval(usageTimer);
		offEvents();
		events.close();
	};
	try {
		brokerHandler = (await options.mountBroker?.({ storage, server, logger })) ?? undefined;
		await new Promise<void>((resolve, reject) => {
			server.once("error", reject);
			server.listen(bind.port, bind.host, () => {
				server.off("error", reject);
				resolve();
			});
		});
	} catch (error) {
		cleanup();
		throw error;
	}
	const address = server.address() as AddressInfo;
	const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
	const url = `${options.tls ? "https" : "http"}://${host}:${address.port}`;
	logger.info("broker app listening", { url });

	let closing: Promise<void> | undefined;
	return {
		url,
		close() {
			closing ??= (async () => {
				closed = true;
				cleanup();
				for (const stream of streams) stream.end();
				streams.clear();
				await new Promise<void>((resolve) => {
					server.close(() => resolve());
					server.closeAllConnections();
				});
				await usageFlight;
			})();
			return closing;
		},
	};
}
