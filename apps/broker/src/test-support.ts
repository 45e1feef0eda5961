/**
 * Test-only fixture (not exported): a memory-store pool with fake-provider Anthropic accounts, real
 * usage reports through the Anthropic plugin, one API key row, seeded history, and the app serving it.
 */
import { type AuthCredentialStore, AuthStorage, createMemoryStore, usageAccountKey } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { createAnthropicPlugin } from "@authpool/usage-anthropic";
import { hashAdminToken } from "./admin-auth";
import { type BrokerApp, type BrokerAppOptions, startBrokerApp } from "./broker-app";

export const ADMIN_TOKEN = "test-admin-token-1";
export const API_KEY = "test-key-1";
const HOUR = 3_600_000;

export interface Fixture {
	fake: FakeProvider;
	store: AuthCredentialStore;
	storage: AuthStorage;
	app: BrokerApp;
	/** Every token and key the pool holds (and the admin token): none may appear in a response. */
	secrets(): string[];
	close(): Promise<void>;
}

export async function startFixture(extra: Partial<BrokerAppOptions> = {}): Promise<Fixture> {
	const fake = await startFakeProvider();
	const base = fake.baseUrl("anthropic");
	const plugin = createAnthropicPlugin({
		endpoints: {
			tokenUrl: `${base}/v1/oauth/token`,
			usageBaseUrl: `${base}/api/oauth`,
			bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
		},
	});
	const now = Date.now();
	const alice = fake.addAccount("anthropic", {
		email: "alice@example.com",
		usage: { primary: { usedPercent: 35, resetsAt: now + 2 * HOUR }, secondary: { usedPercent: 62 } },
	});
	const bob = fake.addAccount("anthropic", {
		email: "bob@example.com",
		usage: { primary: { usedPercent: 91, resetsAt: now + HOUR }, secondary: { usedPercent: 20 } },
	});
	const carol = fake.addAccount("anthropic", { email: "carol@example.com" });
	const store = createMemoryStore();
	const storage = new AuthStorage(store, { providers: [plugin], env: {} });
	await storage.reload();
	for (const account of [alice, bob, carol]) await storage.upsertCredential("anthropic", account.credential);
	await storage.set("zai", { type: "api_key", key: API_KEY });
	const rowOf = (email: string) =>
		storage
			.listStoredCredentials("anthropic")
			.find((row) => row.credential.type === "oauth" && row.credential.email === email);
	const aliceRow = rowOf("alice@example.com");
	const carolRow = rowOf("carol@example.com");
	if (carolRow) await storage.disableCredentialById(carolRow.id, "refresh token revoked");
	const ledger = store.ledger;
	if (ledger && aliceRow) {
		const accountKey = usageAccountKey(aliceRow.credential);
		await ledger.recordUsageSnapshots(
			[5, 4, 3, 2, 1].map((hoursAgo, index) => ({
				recordedAt: now - hoursAgo * HOUR,
				provider: "anthropic",
				accountKey,
				email: "alice@example.com",
				limitId: "anthropic:5h",
				label: "Claude 5 Hour",
				windowLabel: "5 Hour",
				usedFraction: 0.05 + index * 0.07,
			})),
		);
	}
	const app = await startBrokerApp({
		storage,
		store,
		bind: "127.0.0.1:0",
		adminTokenHashes: [hashAdminToken(ADMIN_TOKEN)],
		pollIntervalMs: 100,
		...extra,
	});
	return {
		fake,
		store,
		storage,
		app,
		secrets() {
			const values = new Set<string>([ADMIN_TOKEN, API_KEY]);
			for (const account of fake.accounts()) {
				for (const value of [account.accessToken, account.refreshToken, account.apiKey]) if (value) values.add(value);
			}
			for (const row of storage.listStoredCredentials()) {
				if (row.credential.type === "oauth") {
					values.add(row.credential.access);
					values.add(row.credential.refresh);
				} else values.add(row.credential.key);
			}
			return [...values].filter((value) => value.length >= 8);
		},
		async close() {
			await app.close();
			await storage.close();
			await fake.close();
		},
	};
}
