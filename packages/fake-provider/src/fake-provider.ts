import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { handlerFor } from "./endpoint-handlers";
import { FakeWorld } from "./fake-world";
import { type FakeResponse, lowerCaseHeaders, parseBody, readBody, send } from "./http-io";
import { isNativeProvider, matchRoute } from "./provider-routes";
import type {
	FakeAccount,
	FakeEndpoint,
	FakeFailure,
	FakeFaultMode,
	FakeLatencyTarget,
	FakeProvider,
	FakeProviderOptions,
	FakeRequest,
} from "./types";

interface PendingFailure {
	provider: string;
	endpoint: FakeEndpoint | "*";
	failure: FakeFailure;
	remaining: number;
}

const DEFAULT_FAILURE_BODY = { error: { type: "fake_failure", message: "injected failure" } };

const FAULT_MODES = new Set<string>([
	"late",
	"redirect",
	"echoRefreshToken",
	"htmlForbidden",
	"zeroExpiry",
	"endlessBody",
] satisfies FakeFaultMode[]);

const HTML_FORBIDDEN =
	"<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body><h1>Access denied</h1>" +
	"<p>Requests from your region are blocked by the firewall. Ray ID: fake0000</p></body></html>";

function isObject(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Writes a JSON-looking body forever, honouring backpressure, until the socket goes away. */
function streamEndlessBody(res: ServerResponse, status: number, headers?: Record<string, string>): void {
	if (res.destroyed || res.writableEnded) return;
	res.writeHead(status, { "content-type": "application/json", ...headers });
	const chunk = Buffer.alloc(65_536, "a");
	res.write('{"access_token":"');
	const pump = () => {
		while (!res.destroyed) {
			if (!res.write(chunk)) {
				res.once("drain", pump);
				return;
			}
		}
	};
	pump();
}

function isLoopback(host: string): boolean {
	return host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

function nonNegative(name: string, value: number | undefined): void {
	if (value !== undefined && !(typeof value === "number" && value >= 0 && !Number.isNaN(value))) {
		throw new TypeError(`fake-provider: ${name} must be a non-negative number`);
	}
}

/**
 * Starts a local HTTP simulator of the providers' token, usage, login and inference endpoints.
 *
 * @throws TypeError when `host` is not a loopback address or a numeric option is invalid.
 * @example
 * const fake = await startFakeProvider({ now: () => clock.now() });
 * const account = fake.addAccount("anthropic", { quota: 3 });
 * const tokenUrl = `${fake.baseUrl("anthropic")}/v1/oauth/token`;
 * await fake.close();
 */
export async function startFakeProvider(options: FakeProviderOptions = {}): Promise<FakeProvider> {
	const host = options.host ?? "127.0.0.1";
	if (!isLoopback(host)) throw new TypeError("fake-provider: host must be a loopback address");
	nonNegative("accessTokenTtlMs", options.accessTokenTtlMs);
	nonNegative("latencyMs", options.latencyMs);
	nonNegative("streamChunkDelayMs", options.streamChunkDelayMs);
	const streamChunkDelayMs = options.streamChunkDelayMs ?? 10;
	nonNegative("port", options.port);
	const now = options.now ?? Date.now;
	const world = new FakeWorld({
		now,
		accessTokenTtlMs: options.accessTokenTtlMs ?? 3_600_000,
		rotateRefreshTokens: options.rotateRefreshTokens ?? true,
	});
	const deviceIntervalSeconds = options.deviceIntervalSeconds ?? 5;
	const requests: FakeRequest[] = [];
	const failures: PendingFailure[] = [];
	const latency = new Map<string, number>();
	const sockets = new Set<Socket>();
	const timers = new Set<NodeJS.Timeout>();
	let closing: Promise<void> | undefined;

	const resetLatency = () => {
		latency.clear();
		if (options.latencyMs) latency.set("*|*", options.latencyMs);
	};
	resetLatency();

	const sleep = (ms: number) =>
		new Promise<void>((resolve) => {
			// Cleared on close(); the pending handler is then dropped with its destroyed socket.
			const timer = setTimeout(() => {
				timers.delete(timer);
				resolve();
			}, ms);
			timers.add(timer);
		});

	const latencyFor = (provider: string, endpoint: string): number =>
		latency.get(`${provider}|${endpoint}`) ??
		latency.get(`${provider}|*`) ??
		latency.get(`*|${endpoint}`) ??
		latency.get("*|*") ??
		0;

	const takeFailure = (provider: string, endpoint: string): FakeFailure | undefined => {
		const index = failures.findIndex((f) => f.provider === provider && (f.endpoint === "*" || f.endpoint === endpoint));
		if (index < 0) return undefined;
		const pending = failures[index] as PendingFailure;
		pending.remaining -= 1;
		if (pending.remaining <= 0) failures.splice(index, 1);
		return pending.failure;
	};

	let baseUrlPrefix = "";
	const baseUrl = (provider: string) => `${baseUrlPrefix}/${encodeURIComponent(provider)}`;

	const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
		const method = (req.method ?? "GET").toUpperCase();
		const url = new URL(req.url ?? "/", "http://fake.invalid");
		const [, rawProvider = "", ...rest] = url.pathname.split("/");
		let provider = "";
		try {
			provider = decodeURIComponent(rawProvider);
		} catch {
			provider = "";
		}
		const known = provider !== "" && (isNativeProvider(provider) || world.isKnownProvider(provider));
		const route = known ? matchRoute(provider, method, `/${rest.join("/")}`) : undefined;
		const headers = lowerCaseHeaders(req);
		const { raw, tooLarge } = await readBody(req);
		const parsed = tooLarge ? ({ ok: false } as const) : parseBody(raw, headers["content-type"]);
		const record: FakeRequest = {
			provider: known ? provider : "",
			endpoint: route?.endpoint ?? "unknown",
			method,
			path: req.url ?? "/",
			query: Object.fromEntries(url.searchParams),
			headers,
			body: parsed.ok ? parsed.value : raw,
			rawBody: raw,
			at: now(),
		};
		requests.push(record);
		const answer = (response: FakeResponse) => {
			if (res.destroyed || res.writableEnded) return;
			record.status = response.status;
			send(res, response, streamChunkDelayMs);
		};

		const delay = latencyFor(record.provider, record.endpoint);
		if (delay > 0) await sleep(delay);
		const failure = record.provider ? takeFailure(record.provider, record.endpoint) : undefined;
		const routed = (): FakeResponse => {
			if (!route) {
				return {
					status: 404,
					body: { error: { type: "not_found", message: `no route for ${method} ${url.pathname}` } },
				};
			}
			if (!route.methodAllowed) {
				return { status: 405, body: { error: { type: "method_not_allowed", message: `${method} not allowed` } } };
			}
			if (tooLarge) return { status: 413, body: { error: "invalid_request", error_description: "body too large" } };
			if (!parsed.ok) {
				return { status: 400, body: { error: "invalid_request", error_description: "malformed request body" } };
			}
			return handlerFor(route.endpoint)({
				world,
				provider,
				endpoint: route.endpoint,
				path: `/${rest.join("/")}`,
				headers,
				body: parsed.value,
				query: record.query,
				params: route.params,
				baseUrl: baseUrl(provider),
				deviceIntervalSeconds,
				attribute: (accountId) => {
					record.accountId = accountId;
				},
			});
		};
		if (!failure) {
			answer(routed());
			return;
		}
		if (failure.hang) return;
		if (failure.mode === "late" || failure.mode === "zeroExpiry") {
			// Handled on arrival, so state (a rotated refresh token) changes even if the answer never lands.
			const response = routed();
			if (failure.mode === "zeroExpiry" && response.status === 200 && isObject(response.body)) {
				if ("expires_in" in response.body) response.body = { ...response.body, expires_in: failure.expiresIn ?? 0 };
			}
			if (failure.delayMs) await sleep(failure.delayMs);
			answer(response);
			return;
		}
		if (failure.delayMs) await sleep(failure.delayMs);
		if (failure.destroy) {
			req.socket.destroy();
			return;
		}
		switch (failure.mode) {
			case "redirect":
				answer({
					status: failure.status ?? 307,
					headers: { location: failure.location ?? "http://127.0.0.1:9/redirected", ...failure.headers },
					body: "",
				});
				return;
			case "echoRefreshToken": {
				const value = parsed.ok ? parsed.value : undefined;
				const presented = isObject(value) && typeof value.refresh_token === "string" ? value.refresh_token : "";
				answer({
					status: failure.status ?? 400,
					headers: failure.headers,
					body: { error: `invalid_grant:${presented}`, error_description: `refresh token ${presented} is not valid` },
				});
				return;
			}
			case "htmlForbidden":
				answer({
					status: failure.status ?? 403,
					headers: { "content-type": "text/html; charset=utf-8", ...failure.headers },
					body: HTML_FORBIDDEN,
				});
				return;
			case "endlessBody":
				record.status = failure.status ?? 200;
				streamEndlessBody(res, record.status, failure.headers);
				return;
			default:
				answer({
					status: failure.status ?? 500,
					headers: failure.headers,
					body: failure.body === undefined ? DEFAULT_FAILURE_BODY : failure.body,
				});
		}
	};

	const server = createServer((req, res) => {
		handle(req, res).catch(() => {
			// A bug or a torn connection must never take the server down.
			if (!res.headersSent && !res.destroyed) {
				send(res, { status: 500, body: { error: { type: "fake_internal_error", message: "internal error" } } });
			} else res.destroy();
		});
	});
	server.on("connection", (socket) => {
		sockets.add(socket);
		socket.on("close", () => sockets.delete(socket));
	});
	server.on("clientError", (_error, socket) => socket.destroy());

	await new Promise<void>((resolve, reject) => {
		server.once("error", reject);
		server.listen(options.port ?? 0, host, () => {
			server.off("error", reject);
			resolve();
		});
	});
	const address = server.address() as AddressInfo;
	const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
	baseUrlPrefix = url;

	const sum = (pick: (r: { refreshes: number; inferences: number }) => number, accountId?: string) => {
		if (accountId !== undefined) return pick(world.get(accountId));
		let total = 0;
		for (const r of world.accountsById.values()) total += pick(r);
		return total;
	};

	const fake: FakeProvider = {
		url,
		baseUrl,
		addAccount: (provider, spec) => world.addAccount(provider, spec).view,
		account: (idOrToken) => world.find(idOrToken)?.view,
		accounts: (provider) =>
			[...world.accountsById.values()]
				.filter((r) => provider === undefined || r.provider === provider)
				.map((r) => r.view),
		setUsage: (accountId, patch) => world.setUsage(accountId, patch),
		revoke: (accountId) => world.revoke(accountId),
		expireAccessToken: (accountId) => world.expireAccessToken(accountId),
		failNext: (provider, endpoint, failure = {}) => {
			const times = failure.times ?? 1;
			if (!(times >= 1)) throw new TypeError("fake-provider: failNext times must be >= 1");
			if (failure.status !== undefined && !(failure.status >= 100 && failure.status <= 599)) {
				throw new TypeError("fake-provider: failNext status must be 100..599");
			}
			nonNegative("delayMs", failure.delayMs);
			if (failure.mode !== undefined && !FAULT_MODES.has(failure.mode)) {
				throw new TypeError("fake-provider: failNext mode is unknown");
			}
			if (failure.expiresIn !== undefined && !Number.isFinite(failure.expiresIn)) {
				throw new TypeError("fake-provider: failNext expiresIn must be a finite number");
			}
			failures.push({ provider, endpoint, failure, remaining: times });
		},
		setLatency: (ms, target: FakeLatencyTarget = {}) => {
			nonNegative("latency", ms);
			const key = `${target.provider ?? "*"}|${target.endpoint ?? "*"}`;
			if (ms > 0) latency.set(key, ms);
			else if (key === "*|*") latency.set(key, 0);
			else latency.delete(key);
		},
		get requests() {
			return requests;
		},
		count: (provider, endpoint) =>
			requests.filter(
				(r) =>
					(provider === undefined || r.provider === provider) && (endpoint === undefined || r.endpoint === endpoint),
			).length,
		refreshCount: (accountId) => sum((r) => r.refreshes, accountId),
		inferenceCount: (accountId) => sum((r) => r.inferences, accountId),
		createAuthorizationCode: (provider, spec) => {
			const { code, record } = world.createAuthorizationCode(provider, spec);
			return { code, account: record.view as FakeAccount };
		},
		approveDeviceCode: (userCode, spec) => world.approveDeviceCode(userCode, spec).view,
		denyDeviceCode: (userCode) => world.denyDeviceCode(userCode),
		pendingDeviceCodes: (provider) => world.pendingDeviceCodes(provider),
		reset: () => {
			world.clear();
			requests.length = 0;
			failures.length = 0;
			resetLatency();
		},
		close: () => {
			closing ??= new Promise<void>((resolve) => {
				for (const timer of timers) clearTimeout(timer);
				timers.clear();
				server.close(() => resolve());
				for (const socket of sockets) socket.destroy();
				sockets.clear();
			});
			return closing;
		},
	};
	return fake;
}
