import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testRedisUrl } from "@authpool/test-services";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { hashAdminToken } from "./admin-auth";
import { loadConfig, main } from "./main";

const TOKEN = "test-admin-token-1";
const silent = { debug() {}, info() {}, warn() {}, error() {} };
let dir: string;
beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "authpool-broker-app-"));
});
afterEach(() => {
	rmSync(dir, { recursive: true, force: true });
});

describe("loadConfig", () => {
	it("reads store URL, bind, token hashes (inline and from a file) and providers", async () => {
		const file = join(dir, "admins");
		writeFileSync(file, `# ops team\n${hashAdminToken("test-admin-token-2")}\n`);
		const config = await loadConfig({
			AUTHPOOL_STORE_URL: "sqlite:/var/lib/authpool/pool.db",
			AUTHPOOL_BIND: "0.0.0.0:9000",
			AUTHPOOL_ADMIN_TOKEN_HASHES: hashAdminToken(TOKEN),
			AUTHPOOL_ADMIN_TOKEN_FILE: file,
			AUTHPOOL_PROVIDERS: "anthropic, openai-codex",
		});
		expect(config).toMatchObject({ storeUrl: "sqlite:/var/lib/authpool/pool.db", bind: "0.0.0.0:9000" });
		expect(config.adminTokenHashes).toEqual([hashAdminToken(TOKEN), hashAdminToken("test-admin-token-2")]);
		expect(config.providers.map((plugin) => plugin.id)).toEqual(["anthropic", "openai-codex"]);
		expect((await loadConfig({})).providers.length).toBeGreaterThanOrEqual(9);
	});

	it("names the variable at fault, never its value", async () => {
		const cases: Array<[Record<string, string>, RegExp]> = [
			[{ AUTHPOOL_ADMIN_TOKEN_HASHES: "test-admin-token-1" }, /hash #1/],
			[{ AUTHPOOL_ADMIN_TOKEN_FILE: join(dir, "missing") }, /AUTHPOOL_ADMIN_TOKEN_FILE/],
			[{ AUTHPOOL_TLS_CERT_FILE: join(dir, "cert.pem") }, /AUTHPOOL_TLS_KEY_FILE/],
			[{ AUTHPOOL_PROVIDERS: "anthropic,nope" }, /unknown providers: nope/],
		];
		for (const [env, message] of cases) {
			const error = await loadConfig(env).catch((caught: unknown) => caught);
			expect(error).toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringMatching(message) });
			expect(String((error as Error).message)).not.toContain("test-admin-token-1");
		}
	});
});

describe("main", () => {
	it("opens a SQLite store from the env and serves the dashboard behind the token", async () => {
		// The default env is process.env itself (not a plain object).
		vi.stubEnv("AUTHPOOL_STORE_URL", join(dir, "pool.db"));
		vi.stubEnv("AUTHPOOL_BIND", "127.0.0.1:0");
		vi.stubEnv("AUTHPOOL_ADMIN_TOKEN_HASHES", hashAdminToken(TOKEN));
		const running = await main(undefined, { logger: silent, usageIntervalMs: 0 }).finally(() => vi.unstubAllEnvs());
		try {
			await running.storage.set("zai", { type: "api_key", key: "test-key-1" });
			expect((await fetch(`${running.app.url}/api/state`)).status).toBe(401);
			const state = await fetch(`${running.app.url}/api/state`, { headers: { authorization: `Bearer ${TOKEN}` } });
			const text = await state.text();
			expect(JSON.parse(text).providers.map((provider: { id: string }) => provider.id)).toEqual(["zai"]);
			expect(text).not.toContain("test-key-1");
		} finally {
			await running.stop();
		}
	});

	it("puts the Redis layer in front of the store with AUTHPOOL_REDIS_URL; a bad URL is refused by name", async () => {
		const redisUrl = testRedisUrl();
		const prefix = `authpool-test-app-${process.pid}-${Date.now()}:`;
		const running = await main(
			{
				AUTHPOOL_STORE_URL: join(dir, "pool.db"),
				AUTHPOOL_BIND: "127.0.0.1:0",
				AUTHPOOL_ADMIN_TOKEN_HASHES: hashAdminToken(TOKEN),
				AUTHPOOL_REDIS_URL: redisUrl,
				AUTHPOOL_REDIS_PREFIX: prefix,
			},
			{ logger: silent, usageIntervalMs: 0 },
		);
		try {
			await running.storage.set("zai", { type: "api_key", key: "test-key-1" });
			expect(running.storage.describeCredentialSource("zai")).toMatch(/redis-cache:sqlite/);
			const state = await fetch(`${running.app.url}/api/state`, { headers: { authorization: `Bearer ${TOKEN}` } });
			const body = (await state.json()) as { providers: Array<{ id: string }> };
			expect(body.providers.map((provider) => provider.id)).toEqual(["zai"]);
		} finally {
			await running.stop();
			const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
			try {
				const keys = await redis.keys(`${prefix}*`);
				if (keys.length > 0) await redis.del(...keys);
			} finally {
				redis.disconnect();
			}
		}
		await expect(loadConfig({ AUTHPOOL_REDIS_URL: "http://127.0.0.1:6379" })).rejects.toMatchObject({
			code: "INVALID_OPTIONS",
			message: expect.stringContaining("AUTHPOOL_REDIS_URL"),
		});
	});

	it("refuses a non-loopback bind without admin tokens (and closes the store it opened)", async () => {
		await expect(
			main({ AUTHPOOL_STORE_URL: join(dir, "pool.db"), AUTHPOOL_BIND: "0.0.0.0:0" }, { logger: silent }),
		).rejects.toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining("without admin tokens") });
	});

	it("serves HTTPS from the TLS files, and hands unknown routes to the mountBroker seam", async () => {
		const cert = join(dir, "cert.pem");
		const key = join(dir, "key.pem");
		execFileSync(
			"openssl",
			[
				"req",
				"-x509",
				"-newkey",
				"ec",
				"-pkeyopt",
				"ec_paramgen_curve:prime256v1",
				"-nodes",
				"-days",
				"1",
				"-subj",
				"/CN=localhost",
				"-addext",
				"subjectAltName=IP:127.0.0.1",
				"-keyout",
				key,
				"-out",
				cert,
			],
			{ stdio: "ignore" },
		);
		const running = await main(
			{
				AUTHPOOL_STORE_URL: `sqlite:${join(dir, "pool.db")}`,
				AUTHPOOL_BIND: "127.0.0.1:0",
				AUTHPOOL_ADMIN_TOKEN_HASHES: hashAdminToken(TOKEN),
				AUTHPOOL_TLS_CERT_FILE: cert,
				AUTHPOOL_TLS_KEY_FILE: key,
			},
			{
				logger: silent,
				usageIntervalMs: 0,
				mountBroker: () => (req, res) => {
					if (req.url !== "/v1/ping") return false;
					res.writeHead(200, { "content-type": "application/json" }).end('{"pong":true}');
					return true;
				},
			},
		);
		try {
			expect(running.app.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
			const ca = readFileSync(cert);
			const get = (path: string, headers: Record<string, string> = {}) =>
				new Promise<{ status: number; body: string }>((resolve, reject) => {
					const req = request(`${running.app.url}${path}`, { ca, headers }, (res) => {
						let body = "";
						res.on("data", (chunk) => {
							body += chunk;
						});
						res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
					});
					req.on("error", reject);
					req.end();
				});
			expect(await get("/api/session", { authorization: `Bearer ${TOKEN}` })).toMatchObject({ status: 200 });
			expect(await get("/v1/ping")).toEqual({ status: 200, body: '{"pong":true}' });
			expect(await get("/v1/other")).toEqual({ status: 404, body: '{"error":"not found"}' });
		} finally {
			await running.stop();
		}
	});
});
