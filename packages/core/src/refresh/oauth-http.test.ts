import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OAuthRefreshError } from "../errors";
import type { PluginContext } from "../plugin";
import { silentLogger } from "../types";
import {
	classifyTokenEndpointFailure,
	jsonApiKeyBlob,
	refreshTokenGrant,
	requestOAuthToken,
	requireTokenFields,
} from "./oauth-http";

let server: Server;
let base: string;
let reply: { status: number; body: string } = { status: 200, body: "{}" };
const seen: { body: string; contentType: string | undefined }[] = [];

beforeAll(async () => {
	server = createServer((req, res) => {
		let body = "";
		req.on("data", (chunk) => {
			body += chunk;
		});
		req.on("end", () => {
			seen.push({ body, contentType: req.headers["content-type"] });
			res.statusCode = reply.status;
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
