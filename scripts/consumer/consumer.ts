// Compiled (never run) by scripts/consumer-test.sh against the packed tarballs: every public
// package's main exports must resolve and type-check for a strict consumer, under both
// `nodenext` and `bundler` resolution.

import { createRemoteStore, type RemoteCredentialStore } from "@authpool/broker-client";
import { type SnapshotResponse, snapshotResponseSchema } from "@authpool/broker-protocol";
import { type Broker, hashBrokerToken, startBroker } from "@authpool/broker-server";
import {
	type AuthCredentialStore,
	AuthpoolError,
	AuthStorage,
	createMemoryStore,
	type ProviderPlugin,
	redact,
	systemClock,
} from "@authpool/core";
import { createManualClock, type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { describeOAuthRefresh, describePoolRotation } from "@authpool/fake-provider/plugin-kit";
import { createTestClock, describeCredentialStore } from "@authpool/store-conformance";
import { createPostgresStore, type PostgresCredentialStore } from "@authpool/store-postgres";
import { type RedisCachedStore, withRedisCache } from "@authpool/store-redis-cache";
import { createSqliteStore, type SqliteCredentialStore } from "@authpool/store-sqlite";
import { anthropic, createAnthropicPlugin } from "@authpool/usage-anthropic";
import { createGithubCopilotPlugin, githubCopilot } from "@authpool/usage-github-copilot";
import { createAntigravityPlugin, googleAntigravity } from "@authpool/usage-google-antigravity";
import { createGeminiCliPlugin, googleGeminiCli } from "@authpool/usage-google-gemini-cli";
import { createKimiPlugin, kimiCode } from "@authpool/usage-kimi-code";
import { createOllamaCloudPlugin, createOllamaPlugin, ollama, ollamaCloud } from "@authpool/usage-ollama";
import { createOpenAICodexPlugin, openaiCodex } from "@authpool/usage-openai-codex";
import { createOpencodeGoPlugin, opencodeGo } from "@authpool/usage-opencode-go";
import { createZaiPlugin, zai } from "@authpool/usage-zai";

export const plugins: ProviderPlugin[] = [
	anthropic,
	createAnthropicPlugin(),
	githubCopilot,
	createGithubCopilotPlugin(),
	googleAntigravity,
	createAntigravityPlugin(),
	googleGeminiCli,
	createGeminiCliPlugin(),
	kimiCode,
	createKimiPlugin(),
	ollama,
	ollamaCloud,
	createOllamaPlugin(),
	createOllamaCloudPlugin(),
	openaiCodex,
	createOpenAICodexPlugin(),
	opencodeGo,
	createOpencodeGoPlugin(),
	zai,
	createZaiPlugin(),
];

export async function openStores(path: string, connectionString: string): Promise<AuthCredentialStore[]> {
	const memory: AuthCredentialStore = createMemoryStore();
	const sqlite: SqliteCredentialStore = await createSqliteStore({ path });
	const postgres: PostgresCredentialStore = await createPostgresStore({ connectionString });
	const cached: RedisCachedStore = withRedisCache(postgres, { url: "redis://127.0.0.1:6379" }, { prefix: "consumer:" });
	return [memory, sqlite, postgres, cached];
}

export async function firstKey(store: AuthCredentialStore): Promise<string | undefined> {
	const fake: FakeProvider = await startFakeProvider();
	const storage = new AuthStorage(store, { providers: plugins, clock: systemClock });
	try {
		await storage.reload();
		return await storage.getApiKey("anthropic", "session-1");
	} catch (error) {
		if (error instanceof AuthpoolError) throw new Error(redact(error.code));
		throw error;
	} finally {
		await storage.close();
		await fake.close();
	}
}

export const helpers = [
	createManualClock,
	createTestClock,
	describeCredentialStore,
	describeOAuthRefresh,
	describePoolRotation,
];

export async function brokerRoundTrip(storage: AuthStorage): Promise<SnapshotResponse> {
	const broker: Broker = await startBroker({
		storage,
		bind: "127.0.0.1:0",
		tokens: { client: [{ hash: hashBrokerToken("consumer-token") }] },
	});
	const store: RemoteCredentialStore = await createRemoteStore({ url: broker.url, token: "consumer-token" });
	try {
		const res = await fetch(`${broker.url}/v1/snapshot`, { headers: { authorization: "Bearer consumer-token" } });
		return snapshotResponseSchema.parse(await res.json());
	} finally {
		await store.close();
		await broker.close();
	}
}
