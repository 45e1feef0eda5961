/**
 * Two replicas on one Postgres schema (the multi-replica deployment): a write through one replica shows on
 * the other's dashboard. Needs AUTHPOOL_TEST_POSTGRES_URL (scripts/services.sh); under CI a missing URL fails.
 */
import { dropSchema, randomSchema, testPostgresUrl } from "@authpool/test-services";
import { afterAll, expect, it } from "vitest";
import { hashAdminToken } from "./admin-auth";
import { main } from "./main";

const TOKEN = "test-admin-token-1";
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const url = testPostgresUrl();
const schema = randomSchema("broker_app");

afterAll(() => dropSchema(schema));

it("shows a write made through one replica on the other replica's dashboard", async () => {
	const env = {
		AUTHPOOL_STORE_URL: url,
		AUTHPOOL_STORE_SCHEMA: schema,
		AUTHPOOL_BIND: "127.0.0.1:0",
		AUTHPOOL_ADMIN_TOKEN_HASHES: hashAdminToken(TOKEN),
		AUTHPOOL_PROVIDERS: "zai",
	};
	const first = await main(env, { logger: silent, usageIntervalMs: 0, pollIntervalMs: 100 });
	const second = await main(env, { logger: silent, usageIntervalMs: 0, pollIntervalMs: 100 });
	try {
		await first.storage.set("zai", { type: "api_key", key: "test-key-1" });
		const providersOn = async (app: { url: string }) => {
			const response = await fetch(`${app.url}/api/state`, { headers: { authorization: `Bearer ${TOKEN}` } });
			const text = await response.text();
			expect(text).not.toContain("test-key-1");
			return (JSON.parse(text) as { providers: Array<{ id: string; accounts: unknown[] }> }).providers;
		};
		await expect.poll(async () => (await providersOn(second.app))[0]?.accounts.length, { timeout: 10_000 }).toBe(1);
		const removed = first.storage.listStoredCredentials("zai")[0];
		await first.storage.removeCredential("zai", removed?.id ?? -1);
		await expect
			.poll(async () => (await providersOn(second.app))[0]?.accounts, { timeout: 10_000 })
			.toEqual([expect.objectContaining({ state: "disabled", disabledCause: "deleted by user" })]);
	} finally {
		await first.stop();
		await second.stop();
	}
});
