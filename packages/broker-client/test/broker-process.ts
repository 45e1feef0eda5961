/**
 * A broker in its own process (for kill tests): Postgres store (behind the Redis cache layer when
 * TEST_REDIS_URL is set), fake Anthropic endpoints, tokens from env.
 * Prints `READY <url>` once listening. Run with `node --conditions=@authpool/source --import tsx`.
 */

import { hashBrokerToken, startBroker } from "@authpool/broker-server";
import { AuthStorage } from "@authpool/core";
import { createPostgresStore } from "@authpool/store-postgres";
import { withRedisCache } from "@authpool/store-redis-cache";
import { createAnthropicPlugin } from "@authpool/usage-anthropic";

const env = process.env;
const base = env.TEST_FAKE_ANTHROPIC_URL!;
const plugin = createAnthropicPlugin({
	endpoints: {
		tokenUrl: `${base}/v1/oauth/token`,
		usageBaseUrl: `${base}/api/oauth`,
		bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
	},
});
// Opening the store on the existing schema has failed intermittently here (SQLSTATE 3F000, schema not
// found) on the loaded test machine; a few attempts keep the kill test about the broker, and each failed
// attempt is reported on stderr.
async function openStore() {
	for (let attempt = 1; ; attempt += 1) {
		try {
			return await createPostgresStore(
				{ connectionString: env.TEST_POSTGRES_URL! },
				{ schema: env.TEST_SCHEMA!, localPeers: false },
			);
		} catch (error) {
			process.stderr.write(`store open attempt ${attempt} failed: ${(error as Error).message}\n`);
			if (attempt >= 4) throw error;
			await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
		}
	}
}
const durable = await openStore();
const store = env.TEST_REDIS_URL
	? withRedisCache(durable, { url: env.TEST_REDIS_URL }, { prefix: env.TEST_REDIS_PREFIX! })
	: durable;
const storage = new AuthStorage(store, { providers: [plugin], env: {} });
const broker = await startBroker({
	storage,
	bind: `127.0.0.1:${env.TEST_PORT ?? "0"}`,
	tokens: {
		admin: [{ hash: hashBrokerToken(env.TEST_ADMIN_TOKEN!) }],
		client: [{ hash: hashBrokerToken(env.TEST_CLIENT_TOKEN!) }],
	},
	refresher: false,
	keepaliveMs: 1_000,
});
process.stdout.write(`READY ${broker.url}\n`);
