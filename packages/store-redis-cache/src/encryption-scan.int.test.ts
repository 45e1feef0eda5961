/**
 * Encrypted pool on Postgres + Redis: after refreshes, session pins, blocks and leases went through
 * Redis, no value under the prefix holds a token or key the test created.
 */
import { AuthStorage, withEncryption } from "@authpool/core";
import { startFakeProvider } from "@authpool/fake-provider";
import { createPostgresStore } from "@authpool/store-postgres";
import {
	dropPrefix,
	dropSchema,
	dumpPrefix,
	randomPrefix,
	randomSchema,
	testPostgresUrl,
	testRedisUrl,
} from "@authpool/test-services";
import { expect, it } from "vitest";
import { fleetPlugin, KEY_PROVIDER, OAUTH_PROVIDER } from "../test/fleet-plugin";
import { withRedisCache } from "./index";

// Fixed, obviously fake test key (all-0x33 bytes).
const keys = new Map([["k1", Buffer.alloc(32, 0x33)]]);

it("no token the test created is ever written to Redis", async () => {
	const url = testRedisUrl();
	const schema = randomSchema("scan");
	const prefix = randomPrefix("scan");
	const fake = await startFakeProvider();
	// Encryption outermost: the Redis layer and the database only ever see sealed rows.
	const store = withEncryption(
		withRedisCache(await createPostgresStore({ connectionString: testPostgresUrl() }, { schema }), { url }, { prefix }),
		{ keys, activeKeyId: "k1" },
	);
	const storage = new AuthStorage(store, {
		providers: [fleetPlugin(`${fake.baseUrl(OAUTH_PROVIDER)}/oauth/token`)],
		owner: "scan-owner",
	});
	try {
		const secrets = new Set<string>(["test-key-scan-1", "test-key-scan-2"]);
		const accounts = [0, 1].map(() => fake.addAccount(OAUTH_PROVIDER, { expiresAt: Date.now() - 1_000 }));
		for (const account of accounts) {
			secrets.add(account.accessToken);
			secrets.add(account.refreshToken);
			await storage.upsertCredential(OAUTH_PROVIDER, account.credential);
		}
		await storage.set(KEY_PROVIDER, [
			{ type: "api_key", key: "test-key-scan-1" },
			{ type: "api_key", key: "test-key-scan-2" },
		]);
		for (let i = 0; i < 6; i++) {
			await storage.getApiKey(OAUTH_PROVIDER, `session-${i}`);
			await storage.getApiKey(KEY_PROVIDER, `session-${i}`);
		}
		await storage.markUsageLimitReached(KEY_PROVIDER, "session-0", { retryAfterMs: 60_000 });
		await storage.markUsageLimitReached(OAUTH_PROVIDER, "session-1", { retryAfterMs: 60_000 });
		for (const account of accounts) {
			// The refreshed generation too.
			secrets.add(account.accessToken);
			secrets.add(account.refreshToken);
			expect(fake.refreshCount(account.id)).toBe(1);
		}

		const dump = await dumpPrefix(url, prefix);
		const everything = [...dump].map(([key, value]) => `${key}\n${value}`).join("\n");
		// The scan does see what went through Redis: session pins, the block mirror, lease tokens.
		expect(everything).toContain("session:fleet-keys:session-0");
		expect(dump.has(`${prefix}b`)).toBe(true);
		expect(dump.has(`${prefix}lt`)).toBe(true);
		for (const secret of secrets) expect(everything.includes(secret), "a token in Redis").toBe(false);
	} finally {
		await storage.close();
		await fake.close();
		await dropSchema(schema);
		await dropPrefix(url, prefix);
	}
}, 30_000);
