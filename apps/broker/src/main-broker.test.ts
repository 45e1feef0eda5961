import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRemoteStore } from "@authpool/broker-client";
import { AuthStorage } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { createAnthropicPlugin } from "@authpool/usage-anthropic";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashAdminToken } from "./admin-auth";
import { loadConfig, main } from "./main";

const ADMIN = "test-admin-token-1";
const CLIENT = "test-client-token-1";
const METRICS = "test-metrics-token-1";
const silent = { debug() {}, info() {}, warn() {}, error() {} };

let dir: string;
let fake: FakeProvider;
let running: Awaited<ReturnType<typeof main>>;
let account: ReturnType<FakeProvider["addAccount"]>;
let plugin: ReturnType<typeof createAnthropicPlugin>;

beforeAll(async () => {
	dir = mkdtempSync(join(tmpdir(), "authpool-broker-app-"));
	fake = await startFakeProvider();
	const base = fake.baseUrl("anthropic");
	plugin = createAnthropicPlugin({
		endpoints: {
			tokenUrl: `${base}/v1/oauth/token`,
			usageBaseUrl: `${base}/api/oauth`,
			bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
		},
	});
	const metricsFile = join(dir, "metrics-hashes");
	writeFileSync(metricsFile, `# prometheus\n${hashAdminToken(METRICS)}\n`);
	running = await main(
		{
			AUTHPOOL_STORE_URL: join(dir, "pool.db"),
			AUTHPOOL_BIND: "127.0.0.1:0",
			AUTHPOOL_ADMIN_TOKEN_HASHES: hashAdminToken(ADMIN),
			AUTHPOOL_BROKER_CLIENT_TOKEN_HASHES: hashAdminToken(CLIENT),
			AUTHPOOL_BROKER_METRICS_TOKEN_FILE: metricsFile,
		},
		{ logger: silent, usageIntervalMs: 0, providers: [plugin] },
	);
	account = fake.addAccount("anthropic", { email: "alice@example.com" });
	await running.storage.upsertCredential("anthropic", account.credential);
});
afterAll(async () => {
	await running?.stop();
	await fake?.close();
	rmSync(dir, { recursive: true, force: true });
});

describe("the broker protocol on the app's port", () => {
	it("serves /v1/snapshot to a client token (refresh tokens never leave), 401 without one, the dashboard still at /", async () => {
		const url = running.app.url;
		const reply = await fetch(`${url}/v1/snapshot`, { headers: { authorization: `Bearer ${CLIENT}` } });
		expect(reply.status).toBe(200);
		const text = await reply.text();
		const snapshot = JSON.parse(text) as {
			credentials: Array<{ provider: string; credential: { type: string; access?: string; refresh?: string } }>;
		};
		const entry = snapshot.credentials.find((candidate) => candidate.provider === "anthropic");
		expect(entry?.credential).toMatchObject({ type: "oauth", access: account.accessToken, refresh: "__remote__" });
		expect(text).not.toContain(account.refreshToken);

		const anonymous = await fetch(`${url}/v1/snapshot`);
		expect(anonymous.status).toBe(401);
		expect(await anonymous.json()).toEqual({ error: "unauthorized" });
		// The dashboard's admin token is a broker admin token too; the client token is not a dashboard token.
		const asAdmin = await fetch(`${url}/v1/credentials/disabled`, { headers: { authorization: `Bearer ${ADMIN}` } });
		expect(asAdmin.status).toBe(200);
		expect(
			(await fetch(`${url}/v1/credentials/disabled`, { headers: { authorization: `Bearer ${CLIENT}` } })).status,
		).toBe(403);
		expect((await fetch(`${url}/api/state`, { headers: { authorization: `Bearer ${CLIENT}` } })).status).toBe(401);
		const metrics = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } });
		expect([metrics.status, (await metrics.text()).includes("authpool_broker_credentials")]).toEqual([200, true]);

		const page = await fetch(`${url}/`);
		expect(page.status).toBe(200);
		expect(page.headers.get("content-type")).toMatch(/text\/html/);
		expect((await fetch(`${url}/healthz`)).status).toBe(200);
		expect((await fetch(`${url}/v1/nope`)).status).toBe(404);
	});

	it("a remote store over the app gives a client AuthStorage its access key", async () => {
		const store = await createRemoteStore({ url: running.app.url, token: CLIENT });
		const client = new AuthStorage(store, { providers: [plugin], env: {} });
		try {
			await client.reload();
			expect(await client.getApiKey("anthropic", "session-1")).toBe(account.accessToken);
			const row = client.listStoredCredentials("anthropic")[0];
			expect(row?.credential).toMatchObject({ refresh: "__remote__" });
		} finally {
			await client.close();
		}
	});
});

describe("broker token configuration", () => {
	it("reads client and metrics hashes (inline and from files), naming the variable at fault", async () => {
		const file = join(dir, "clients");
		writeFileSync(file, `${hashAdminToken("test-client-token-2")}\n`);
		const config = await loadConfig({
			AUTHPOOL_BROKER_CLIENT_TOKEN_HASHES: hashAdminToken(CLIENT),
			AUTHPOOL_BROKER_CLIENT_TOKEN_FILE: file,
			AUTHPOOL_BROKER_METRICS_TOKEN_HASHES: hashAdminToken(METRICS),
		});
		expect(config.clientTokenHashes).toEqual([hashAdminToken(CLIENT), hashAdminToken("test-client-token-2")]);
		expect(config.metricsTokenHashes).toEqual([hashAdminToken(METRICS)]);
		const bad = await loadConfig({ AUTHPOOL_BROKER_CLIENT_TOKEN_HASHES: CLIENT }).catch((error: unknown) => error);
		expect(bad).toMatchObject({
			code: "INVALID_OPTIONS",
			message: expect.stringContaining("AUTHPOOL_BROKER_CLIENT_TOKEN_HASHES"),
		});
		expect(String((bad as Error).message)).not.toContain(CLIENT);
		const missing = await loadConfig({ AUTHPOOL_BROKER_METRICS_TOKEN_FILE: join(dir, "missing") }).catch(
			(error: unknown) => error,
		);
		expect(missing).toMatchObject({
			code: "INVALID_OPTIONS",
			message: "AUTHPOOL_BROKER_METRICS_TOKEN_FILE cannot be read",
		});
	});

	it("still refuses a non-loopback bind without admin tokens, even with client tokens", async () => {
		await expect(
			main(
				{
					AUTHPOOL_STORE_URL: join(dir, "other.db"),
					AUTHPOOL_BIND: "0.0.0.0:0",
					AUTHPOOL_BROKER_CLIENT_TOKEN_HASHES: hashAdminToken(CLIENT),
				},
				{ logger: silent, providers: [plugin] },
			),
		).rejects.toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining("without admin tokens") });
	});
});
