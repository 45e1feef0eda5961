import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OAuthRefreshError } from "../errors";
import type { PluginContext } from "../plugin";
import { silentLogger } from "../types";
import {
	classifyTokenEndpointFailure,
	jsonApiKeyBlob,
	MAX_TOKEN_RESPONSE_BYTES,
	MIN_TOKEN_LIFETIME_MS,
	refreshTokenGrant,
	requestOAuthToken,
	requireTokenFields,
	tokenExpiry,
} from "./oauth-http";

let server: Server;
let base: string;
let reply: {
	status: number;
	body: string;
	headers?: Record<string, string>;
	/** Takes over the response (endless bodies, stalls). */
	raw?: (res: ServerResponse) => void;
} = { status: 200, body: "{}" };
const seen: { body: string; contentType: string | undefined }[] = [];

beforeAll(async () => {
	server = createServer((req, res) => {
		let body = "";
		req.on("data", (chunk) => {
			body += chunk;
		});
		req.on("end", () => {
			seen.push({ body, contentType: req.headers["content-type"] });
			if (reply.raw) return reply.raw(res);
			res.writeHead(reply.status, reply.headers);
			res.end(reply.body);
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const ctx = (): PluginContext => ({
	fetch,
	clock: { now: () => 1_000_000 },
	logger: silentLogger,
	env: {},
	signal: new AbortController().signal,
});
const failure = (promise: Promise<unknown>) =>
	promise.then(
		() => undefined,
		(error: unknown) => error,
	);

describe("requestOAuthToken", () => {
	it("sends form and JSON bodies and returns the parsed object", async () => {
		reply = { status: 200, body: JSON.stringify({ access_token: "a" }) };
		seen.length = 0;
		await requestOAuthToken({ provider: "p", url: base, encoding: "form", body: { refresh_token: "r1" } }, ctx());
		await requestOAuthToken({ provider: "p", url: base, encoding: "json", body: { refresh_token: "r1" } }, ctx());
		expect(seen[0]).toEqual({ body: "refresh_token=r1", contentType: "application/x-www-form-urlencoded" });
		expect(seen[1]).toEqual({ body: '{"refresh_token":"r1"}', contentType: "application/json" });
	});

	it("turns invalid_grant into a definitive error that names the code but not the token", async () => {
		reply = {
			status: 400,
			body: JSON.stringify({ error: "invalid_grant", error_description: "refresh r-secret used" }),
		};
		const error = await failure(
			requestOAuthToken(
				{ provider: "anthropic", url: base, encoding: "json", body: { refresh_token: "r-secret" } },
				ctx(),
			),
		);
		expect(OAuthRefreshError.isInstance(error)).toBe(true);
		expect(error).toMatchObject({ definitive: true, status: 400, errorCode: "invalid_grant", provider: "anthropic" });
		expect((error as Error).message).toBe("anthropic token refresh failed: HTTP 400 (invalid_grant)");
	});

	it("treats 5xx, 429, junk bodies and unreachable servers as transient", async () => {
		for (const status of [500, 503, 429]) {
			reply = { status, body: "<html>oops</html>" };
			const error = await failure(requestOAuthToken({ provider: "p", url: base, encoding: "form", body: {} }, ctx()));
			expect(error).toMatchObject({ definitive: false, status });
		}
		reply = { status: 200, body: "not json" };
		expect(
			await failure(requestOAuthToken({ provider: "p", url: base, encoding: "form", body: {} }, ctx())),
		).toMatchObject({
			definitive: false,
		});
		const network = await failure(
			requestOAuthToken({ provider: "p", url: "http://127.0.0.1:1/token", encoding: "form", body: {} }, ctx()),
		);
		expect(network).toMatchObject({ definitive: false, message: expect.stringContaining("network error") });
	});

	it("names the purpose in messages", async () => {
		reply = { status: 401, body: "{}" };
		const error = await failure(
			requestOAuthToken(
				{ provider: "p", purpose: "authorization code exchange", url: base, encoding: "form", body: {} },
				ctx(),
			),
		);
		expect((error as Error).message).toBe("p authorization code exchange failed: HTTP 401 (transient)");
	});

	it("re-throws the caller's abort as is", async () => {
		const controller = new AbortController();
		controller.abort();
		const error = await failure(
			requestOAuthToken(
				{ provider: "p", url: base, encoding: "form", body: {} },
				{ ...ctx(), signal: controller.signal },
			),
		);
		expect(OAuthRefreshError.isInstance(error)).toBe(false);
		expect((error as Error).name).toBe("AbortError");
	});
});

/** A second loopback server that only records what reaches it. */
async function recordingServer(): Promise<{ url: string; hits: string[]; close: () => Promise<void> }> {
	const hits: string[] = [];
	const other = createServer((req, res) => {
		let body = "";
		req.on("data", (chunk) => {
			body += chunk;
		});
		req.on("end", () => {
			hits.push(`${req.method} ${req.url} ${body}`);
			res.end(JSON.stringify({ access_token: "stolen", expires_in: 3600 }));
		});
	});
	await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
	return {
		url: `http://127.0.0.1:${(other.address() as AddressInfo).port}`,
		hits,
		close: () => new Promise<void>((resolve) => other.close(() => resolve())),
	};
}

/** Writes 64 KiB chunks until the client goes away; returns how many bytes it managed to send. */
function endless(res: ServerResponse, sent: { bytes: number }): void {
	res.writeHead(200, { "content-type": "application/json" });
	const chunk = Buffer.alloc(65_536, "a");
	res.write('{"access_token":"');
	const pump = () => {
		while (!res.destroyed) {
			sent.bytes += chunk.length;
			if (!res.write(chunk)) {
				res.once("drain", pump);
				return;
			}
		}
	};
	res.on("close", () => res.destroy());
	pump();
}

describe("requestOAuthToken hardening", () => {
	const grantBody = { grant_type: "refresh_token", refresh_token: "test-refresh-1", client_secret: "test-secret-1" };

	it("never follows a redirect: a 307 is transient and the target receives nothing", async () => {
		const other = await recordingServer();
		try {
			reply = { status: 307, body: "", headers: { location: `${other.url}/steal` } };
			const error = await failure(
				requestOAuthToken({ provider: "p", url: base, encoding: "form", body: grantBody }, ctx()),
			);
			expect(OAuthRefreshError.isInstance(error)).toBe(true);
			expect(error).toMatchObject({ definitive: false, status: 307 });
			expect((error as Error).message).toContain("redirect not followed");
			// Give a (wrongly) followed request time to land.
			await new Promise((resolve) => setTimeout(resolve, 50));
			expect(other.hits).toEqual([]);
		} finally {
			await other.close();
		}
	});

	it("passes redirect: manual to the injected fetch and treats an opaque redirect as transient", async () => {
		const inits: RequestInit[] = [];
		const opaque = { type: "opaqueredirect", status: 0, ok: false, body: null } as unknown as Response;
		const error = await failure(
			requestOAuthToken(
				{ provider: "p", url: base, encoding: "form", body: grantBody },
				{
					...ctx(),
					fetch: async (_input, init) => {
						inits.push(init ?? {});
						return opaque;
					},
				},
			),
		);
		expect(inits[0]?.redirect).toBe("manual");
		expect(error).toMatchObject({ definitive: false });
		expect((error as OAuthRefreshError).status).toBeUndefined();
	});

	it("stops reading an endless body at the cap: transient, bounded", async () => {
		const sent = { bytes: 0 };
		reply = { status: 200, body: "", raw: (res) => endless(res, sent) };
		const error = await failure(
			requestOAuthToken({ provider: "p", url: base, encoding: "form", body: grantBody }, ctx()),
		);
		expect(error).toMatchObject({ definitive: false, status: 200 });
		expect((error as Error).message).toContain("exceeds");
		// The client stopped the stream soon after the cap (socket buffers allow some slack).
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(sent.bytes).toBeLessThan(MAX_TOKEN_RESPONSE_BYTES * 16);
	});

	it("reads the body under the caller's signal: a stalled body aborts with it", async () => {
		reply = {
			status: 200,
			body: "",
			raw: (res) => {
				res.writeHead(200, { "content-type": "application/json" });
				res.write('{"access_token":');
			},
		};
		const controller = new AbortController();
		const pending = failure(
			requestOAuthToken(
				{ provider: "p", url: base, encoding: "form", body: grantBody },
				{ ...ctx(), signal: controller.signal },
			),
		);
		setTimeout(() => controller.abort(), 30);
		const error = await pending;
		expect(OAuthRefreshError.isInstance(error)).toBe(false);
		expect((error as Error).name).toBe("AbortError");
	});

	it("treats HTML pages and unrecognised 401/403 bodies as transient, keeping the status", async () => {
		const cases = [
			{ status: 403, body: "<!DOCTYPE html><html><body>Access denied (geo block): invalid_grant</body></html>" },
			{ status: 403, body: JSON.stringify({ message: "Forbidden" }) },
			{ status: 401, body: JSON.stringify({ error: { type: "authentication_error", message: "nope" } }) },
			{ status: 401, body: "" },
		];
		for (const { status, body } of cases) {
			reply = { status, body };
			const error = await failure(requestOAuthToken({ provider: "p", url: base, encoding: "form", body: {} }, ctx()));
			expect(error, body).toMatchObject({ definitive: false, status });
		}
	});

	it("is definitive only for recognised OAuth errors", async () => {
		const cases: [number, unknown, boolean][] = [
			[400, { error: "invalid_client" }, true],
			[401, { error: "unauthorized_client" }, true],
			[400, { error: "invalid_request", error_description: "Refresh token is invalid or expired" }, true],
			[400, { error: "invalid_request", error_description: "client_id is required" }, false],
			[400, { error: "server_error", error_description: "token has been revoked" }, true],
		];
		for (const [status, body, definitive] of cases) {
			reply = { status, body: JSON.stringify(body) };
			const error = await failure(requestOAuthToken({ provider: "p", url: base, encoding: "form", body: {} }, ctx()));
			expect(error, JSON.stringify(body)).toMatchObject({ definitive, status });
		}
	});

	it("never lets the request's secrets reach message or errorCode", async () => {
		const secrets = { refresh: "test-refresh-1", access: "test-access-1", clientSecret: "test-secret-1" };
		const echoes = [
			{ error: secrets.refresh, error_description: `refresh token ${secrets.refresh} is invalid` },
			{ error: "plain_words_token", error_description: "x" },
			{ error: `invalid_grant ${secrets.access}` },
			{ error: { code: secrets.clientSecret, message: secrets.refresh } },
		];
		for (const body of echoes) {
			reply = { status: 400, body: JSON.stringify(body) };
			const error = await failure(
				refreshTokenGrant({ refresh: secrets.refresh, access: secrets.access }, ctx(), {
					provider: "p",
					tokenUrl: base,
					clientId: "c",
					clientSecret: secrets.clientSecret,
				}),
			);
			expect(OAuthRefreshError.isInstance(error)).toBe(true);
			const text = `${(error as Error).message} ${(error as OAuthRefreshError).errorCode ?? ""}`;
			for (const secret of Object.values(secrets)) expect(text).not.toContain(secret);
		}
		// A refresh token made only of identifier characters is still recognised and dropped.
		reply = { status: 400, body: JSON.stringify({ error: "plain_words_token" }) };
		const quoted = await failure(
			requestOAuthToken(
				{ provider: "p", url: base, encoding: "form", body: { refresh_token: "plain_words_token" } },
				ctx(),
			),
		);
		expect(quoted).toMatchObject({ definitive: false, status: 400 });
		expect((quoted as OAuthRefreshError).errorCode).toBeUndefined();
		expect((quoted as Error).message).not.toContain("plain_words_token");
	});
});

describe("tokenExpiry", () => {
	const logs: { message: string; fields?: Record<string, unknown> }[] = [];
	const c = {
		clock: { now: () => 1_000_000 },
		logger: {
			...silentLogger,
			warn: (message: string, fields?: Record<string, unknown>) => logs.push({ message, fields }),
		},
	};

	it("keeps valid values and clamps zero, negative, missing and absurd ones", () => {
		expect(tokenExpiry(c, "p", 3600, 300_000)).toBe(1_000_000 + 3_600_000 - 300_000);
		expect(tokenExpiry(c, "p", "600")).toBe(1_600_000);
		expect(logs).toEqual([]);
		for (const bad of [0, -30, 1]) {
			expect(tokenExpiry(c, "p", bad), String(bad)).toBe(1_000_000 + MIN_TOKEN_LIFETIME_MS);
		}
		// A lifetime shorter than the skew would otherwise already be expired.
		expect(tokenExpiry(c, "p", 120, 300_000)).toBe(1_000_000 + MIN_TOKEN_LIFETIME_MS);
		expect(tokenExpiry(c, "p", undefined)).toBe(1_000_000 + 3_600_000);
		expect(tokenExpiry(c, "p", "soon")).toBe(1_000_000 + 3_600_000);
		expect(tokenExpiry(c, "p", Number.NaN)).toBe(1_000_000 + 3_600_000);
		expect(tokenExpiry(c, "p", 1e15)).toBe(1_000_000 + 365 * 86_400_000);
		expect(logs.length).toBeGreaterThanOrEqual(8);
		expect(logs[0]?.fields).toMatchObject({ provider: "p", expiresIn: 0 });
	});

	it("is what refreshTokenGrant uses: expires_in 0 or missing never yields an expired token", async () => {
		for (const body of [{ access_token: "a2", expires_in: 0 }, { access_token: "a2" }]) {
			reply = { status: 200, body: JSON.stringify(body) };
			const result = await refreshTokenGrant({ refresh: "r1" }, ctx(), {
				provider: "p",
				tokenUrl: base,
				clientId: "c",
				expirySkewMs: 300_000,
			});
			expect(result.expires).toBeGreaterThanOrEqual(1_000_000 + MIN_TOKEN_LIFETIME_MS);
		}
	});
});

describe("classifyTokenEndpointFailure", () => {
	it("follows the definitive/transient rules", () => {
		expect(classifyTokenEndpointFailure(400, "invalid_grant")).toBe(true);
		// Unrecognised 401/403 bodies are transient now (they used to disable the credential).
		expect(classifyTokenEndpointFailure(401)).toBe(false);
		expect(classifyTokenEndpointFailure(403)).toBe(false);
		expect(classifyTokenEndpointFailure(401, "invalid_client")).toBe(true);
		expect(classifyTokenEndpointFailure(400, "invalid_request", "The refresh token is expired")).toBe(true);
		expect(classifyTokenEndpointFailure(400, "invalid_request", "missing client_id")).toBe(false);
		expect(classifyTokenEndpointFailure(307, "invalid_grant")).toBe(false);
		expect(classifyTokenEndpointFailure(403, undefined, "Cloudflare challenge")).toBe(false);
		expect(classifyTokenEndpointFailure(400, "invalid_request")).toBe(false);
		expect(classifyTokenEndpointFailure(400, "x", "refresh token expired")).toBe(true);
		expect(classifyTokenEndpointFailure(502)).toBe(false);
	});
});

describe("refreshTokenGrant", () => {
	it("keeps the old refresh token when none comes back and applies the skew", async () => {
		reply = { status: 200, body: JSON.stringify({ access_token: "a2", expires_in: 3600 }) };
		const result = await refreshTokenGrant({ refresh: "r1" }, ctx(), {
			provider: "p",
			tokenUrl: base,
			clientId: "c",
			clientSecret: "s",
			expirySkewMs: 300_000,
		});
		expect(result).toMatchObject({ access: "a2", refresh: "r1", expires: 1_000_000 + 3_600_000 - 300_000 });
		expect(Object.fromEntries(new URLSearchParams(seen.at(-1)!.body))).toEqual({
			grant_type: "refresh_token",
			refresh_token: "r1",
			client_id: "c",
			client_secret: "s",
		});
	});

	it("uses a rotated refresh token, and insists on one when rotation is required", async () => {
		reply = { status: 200, body: JSON.stringify({ access_token: "a2", refresh_token: "r2", expires_in: "600" }) };
		const rotated = await refreshTokenGrant({ refresh: "r1" }, ctx(), { provider: "p", tokenUrl: base, clientId: "c" });
		expect(rotated).toMatchObject({ refresh: "r2", expires: 1_600_000 });
		reply = { status: 200, body: JSON.stringify({ access_token: "a2", expires_in: 60 }) };
		const error = await failure(
			refreshTokenGrant({ refresh: "r1" }, ctx(), {
				provider: "p",
				tokenUrl: base,
				clientId: "c",
				requireNewRefreshToken: true,
			}),
		);
		expect(error).toMatchObject({ definitive: false, message: "p token response is missing a valid refresh_token" });
	});

	it("rejects a non-numeric expires_in", () => {
		expect(() => requireTokenFields("p", { expires_in: "soon" }, ["expires_in"])).toThrow(/expires_in/);
		expect(() => requireTokenFields("p", { expires_in: "120" }, ["expires_in"])).not.toThrow();
	});
});

describe("jsonApiKeyBlob", () => {
	it("carries the access token and identity, and the refresh token only when asked", () => {
		const credential = { access: "a", refresh: "r", expires: 5, projectId: "p1", email: "e@x" };
		expect(JSON.parse(jsonApiKeyBlob(credential))).toEqual({ token: "a", projectId: "p1", expiresAt: 5, email: "e@x" });
		expect(JSON.parse(jsonApiKeyBlob(credential, { includeRefreshToken: true })).refreshToken).toBe("r");
	});
});
