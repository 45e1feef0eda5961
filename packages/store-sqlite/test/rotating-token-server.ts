/**
 * Test helper: a local OAuth token endpoint that rotates the refresh token on every use and answers
 * `invalid_grant` to a reused one, plus a `/verify` endpoint workers call with every access token they
 * were handed (so the server, not the worker, judges "expired" and "unknown"). Real time throughout:
 * it serves real OS processes.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Grant {
	account: string;
	access: string;
	refresh: string;
	/** Real epoch ms the access token dies. */
	expiresAt: number;
}

export interface RefreshRequest {
	account: string | undefined;
	worker: string | undefined;
	outcome: "rotated" | "invalid_grant" | "dropped";
	/** Real epoch ms the request arrived. */
	at: number;
	/** A short, non-reversible tag of the refresh token presented. */
	token: string;
}

export interface RotatingTokenServer {
	url: string;
	/** The first grant of a new account (what the test stores as the row). */
	addAccount(account: string): Grant;
	/** Refresh requests in arrival order. */
	readonly refreshes: RefreshRequest[];
	/** Verification failures: tokens a worker was handed that were expired or unknown. */
	readonly rejectedTokens: Array<{ reason: string; worker: string | undefined }>;
	verifiedCount(): number;
	/** Rotated refreshes of one account (or all). */
	rotations(account?: string): number;
	/**
	 * Called when a refresh arrives, before it is processed; return `"drop"` to destroy the socket
	 * without consuming the token (the test kills the caller meanwhile). May be async.
	 */
	onRefresh?: (request: { account: string | undefined; worker: string | undefined }) => Promise<"process" | "drop">;
	/**
	 * Fault mode: rotate at once, then hold the answer this long (e.g. past the client's timeout). The
	 * old token is consumed when the request arrives, as at a real provider.
	 */
	answerDelayMs?: (request: { account: string; worker: string | undefined; index: number }) => number;
	/** Refresh requests the server has consumed a token for but not answered yet, by worker. */
	readonly outstanding: Map<string, number>;
	/** The account's newest refresh token and the worker it was issued to (undefined: the first grant). */
	latestGrant(account: string): { refresh: string; worker: string | undefined } | undefined;
	close(): Promise<void>;
}

function token(prefix: string): string {
	return `${prefix}-${randomBytes(12).toString("hex")}`;
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
	const chunks: Buffer[] = [];
	for await (const chunk of request) chunks.push(chunk as Buffer);
	try {
		return JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
	} catch {
		return {};
	}
}

function send(response: ServerResponse, status: number, body: unknown): void {
	response.writeHead(status, { "content-type": "application/json" });
	response.end(JSON.stringify(body));
}

/** Start the server on 127.0.0.1 (port 0). `accessTtlMs` is the life of every access token. */
export async function startRotatingTokenServer(accessTtlMs: number): Promise<RotatingTokenServer> {
	/** refresh token → account, for tokens not yet used. */
	const liveRefresh = new Map<string, string>();
	/** refresh tokens already consumed → account (reuse answers invalid_grant). */
	const usedRefresh = new Map<string, string>();
	const accessTokens = new Map<string, { account: string; expiresAt: number }>();
	const refreshes: RefreshRequest[] = [];
	const rejectedTokens: Array<{ reason: string; worker: string | undefined }> = [];
	const outstanding = new Map<string, number>();
	const latest = new Map<string, { refresh: string; worker: string | undefined }>();
	let verified = 0;

	const issue = (account: string): Grant => {
		const grant = { account, access: token("at"), refresh: token("rt"), expiresAt: Date.now() + accessTtlMs };
		liveRefresh.set(grant.refresh, account);
		latest.set(account, { refresh: grant.refresh, worker: undefined });
		accessTokens.set(grant.access, { account, expiresAt: grant.expiresAt });
		return grant;
	};

	const handle = async (request: IncomingMessage, response: ServerResponse) => {
		const body = await readJson(request);
		const worker = typeof body.worker === "string" ? body.worker : undefined;
		if (request.url === "/token") {
			const refresh = typeof body.refresh === "string" ? body.refresh : "";
			const at = Date.now();
			const tag = refresh.slice(-6);
			const account = liveRefresh.get(refresh) ?? usedRefresh.get(refresh);
			if (server.onRefresh && (await server.onRefresh({ account, worker })) === "drop") {
				refreshes.push({ account, worker, outcome: "dropped", at, token: tag });
				request.socket.destroy();
				return;
			}
			const live = liveRefresh.get(refresh);
			if (live === undefined) {
				refreshes.push({ account, worker, outcome: "invalid_grant", at, token: tag });
				send(response, 400, { error: "invalid_grant" });
				return;
			}
			liveRefresh.delete(refresh);
			usedRefresh.set(refresh, live);
			refreshes.push({ account: live, worker, outcome: "rotated", at, token: tag });
			const grant = issue(live);
			latest.set(live, { refresh: grant.refresh, worker });
			const delay = server.answerDelayMs?.({ account: live, worker, index: refreshes.length - 1 }) ?? 0;
			if (delay > 0) {
				const key = worker ?? "";
				outstanding.set(key, (outstanding.get(key) ?? 0) + 1);
				await new Promise((resolve) => setTimeout(resolve, delay));
				outstanding.set(key, (outstanding.get(key) ?? 1) - 1);
				// The access token's life started when it was issued, not when the late answer left.
			}
			send(response, 200, { access: grant.access, refresh: grant.refresh, expiresAt: grant.expiresAt });
			return;
		}
		if (request.url === "/verify") {
			const access = typeof body.access === "string" ? body.access : "";
			const known = accessTokens.get(access);
			// Judged at the moment the pool handed the token out (same machine, same clock): the time the
			// verify request spent queued on a loaded machine is not the pool's doing.
			const now = Date.now();
			const handedAt = typeof body.handedAt === "number" && body.handedAt <= now ? body.handedAt : now;
			const reason = !known ? "unknown token" : known.expiresAt <= handedAt ? "expired token" : null;
			if (reason) rejectedTokens.push({ reason, worker });
			else verified++;
			send(response, reason ? 401 : 200, { ok: reason === null, reason });
			return;
		}
		send(response, 404, { error: "not found" });
	};

	const http: Server = createServer((request, response) => {
		handle(request, response).catch(() => send(response, 500, { error: "server error" }));
	});
	http.keepAliveTimeout = 30_000;
	await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
	const { port } = http.address() as AddressInfo;

	const server: RotatingTokenServer = {
		url: `http://127.0.0.1:${port}`,
		addAccount: issue,
		refreshes,
		rejectedTokens,
		outstanding,
		latestGrant: (account) => latest.get(account),
		verifiedCount: () => verified,
		rotations: (account) =>
			refreshes.filter((entry) => entry.outcome === "rotated" && (account === undefined || entry.account === account))
				.length,
		close: () =>
			new Promise<void>((resolve) => {
				http.closeAllConnections();
				http.close(() => resolve());
			}),
	};
	return server;
}
