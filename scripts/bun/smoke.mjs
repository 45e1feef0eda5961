// Run by scripts/bun-check.mjs with plain `bun` (no test runner, no source condition): the BUILT
// packages (dist, as published) load on Bun and a small flow works against the fake provider —
// the README's quick start on a SQLite file (bun:sqlite) and on the memory store, and every usage
// plugin's factory. Throws (exit 1) on the first difference.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

if (typeof process.versions.bun !== "string") throw new Error("run this with bun");
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dist = (name) => import(join(root, "packages", name, "dist", "index.js"));

const { AuthStorage, createMemoryStore } = await dist("core");
const { startFakeProvider } = await dist("fake-provider");
const { createSqliteStore } = await dist("store-sqlite");
const { createAnthropicPlugin } = await dist("usage-anthropic");
const { createPostgresStore } = await dist("store-postgres");
const { startBroker } = await dist("broker-server");
const { createRemoteStore } = await dist("broker-client");

function check(condition, message) {
	if (!condition) throw new Error(`bun smoke: ${message}`);
}
check(typeof createPostgresStore === "function", "store-postgres exports createPostgresStore");

// Every usage plugin: its factory builds a plugin with an id and (for OAuth providers) a refresh.
const plugins = [
	"usage-anthropic",
	"usage-github-copilot",
	"usage-google-antigravity",
	"usage-google-gemini-cli",
	"usage-kimi-code",
	"usage-ollama",
	"usage-openai-codex",
	"usage-opencode-go",
	"usage-zai",
];
let built = 0;
for (const name of plugins) {
	const module = await dist(name);
	const factories = Object.entries(module).filter(
		([key, value]) => /^create\w+Plugin$/.test(key) && typeof value === "function",
	);
	check(factories.length > 0, `${name} exports a create…Plugin factory`);
	for (const [key, factory] of factories) {
		const plugin = factory();
		check(typeof plugin?.id === "string" && plugin.id.length > 0, `${name}: ${key}() returns a plugin with an id`);
		built++;
	}
}
console.log(`usage plugins: ${built} plugins built by ${plugins.length} packages`);

async function quickStart(label, openStore) {
	const fake = await startFakeProvider();
	const base = fake.baseUrl("anthropic");
	const anthropic = createAnthropicPlugin({
		endpoints: {
			tokenUrl: `${base}/v1/oauth/token`,
			usageBaseUrl: `${base}/api/oauth`,
			bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
		},
	});
	const alice = fake.addAccount("anthropic", { email: "alice@example.com", accessTokenTtlMs: 30_000 });
	const bob = fake.addAccount("anthropic", { email: "bob@example.com" });
	const store = await openStore();
	const storage = new AuthStorage(store, { providers: [anthropic] });
	try {
		await storage.reload();
		await storage.set("anthropic", [alice.credential, bob.credential]);
		await storage.setAccountPriority("anthropic", ["alice@example.com"]);
		const key = await storage.getApiKey("anthropic", "session-42");
		check(typeof key === "string", `${label}: a key for session-42`);
		check(fake.refreshCount(alice.id) === 1, `${label}: alice refreshed once (${fake.refreshCount(alice.id)})`);
		check(fake.refreshCount(bob.id) === 0, `${label}: bob not refreshed`);
		const { switched } = await storage.markUsageLimitReached("anthropic", "session-42", { retryAfterMs: 60_000 });
		check(switched, `${label}: the session moved to a sibling after the limit`);
		const next = await storage.getApiKey("anthropic", "session-42");
		check(typeof next === "string" && next !== key, `${label}: a different account's key after the block`);
		console.log(`${label}: quick start ok (refresh, block, switch)`);
	} finally {
		await storage.close();
		await store.close();
		await fake.close();
	}
}

/** A broker and a broker client, both on Bun: the client gets access tokens, never a refresh token. */
async function brokerRoundTrip(dbPath) {
	const fake = await startFakeProvider();
	const base = fake.baseUrl("anthropic");
	const anthropic = createAnthropicPlugin({
		endpoints: {
			tokenUrl: `${base}/v1/oauth/token`,
			usageBaseUrl: `${base}/api/oauth`,
			bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
		},
	});
	const alice = fake.addAccount("anthropic", { email: "alice@example.com" });
	const serverStorage = new AuthStorage(await createSqliteStore({ path: dbPath }), { providers: [anthropic] });
	process.env.AUTHPOOL_BUN_SMOKE_CLIENT_TOKEN = "bun-smoke-client-token";
	let broker;
	let client;
	try {
		await serverStorage.reload();
		await serverStorage.set("anthropic", alice.credential);
		broker = await startBroker({
			storage: serverStorage,
			bind: "127.0.0.1:0",
			tokens: { client: [{ env: "AUTHPOOL_BUN_SMOKE_CLIENT_TOKEN", name: "smoke" }] },
		});
		const store = await createRemoteStore({ url: broker.url, token: "bun-smoke-client-token" });
		client = new AuthStorage(store, { providers: [anthropic], sourceLabel: "broker" });
		await client.reload();
		const key = await client.getApiKey("anthropic", "session-1");
		check(key === alice.credential.access, "broker client: the broker's access token");
		const refresh = client.get("anthropic")?.refresh;
		check(
			refresh === "__remote__",
			`broker client: refresh tokens stay on the broker (${refresh === undefined ? "none" : "a token"})`,
		);
		console.log("broker server + client on Bun: ok (access token served, refresh token kept on the broker)");
	} finally {
		await client?.close();
		await broker?.close();
		await serverStorage.close();
		await fake.close();
	}
}

/** The CLI's built bin on Bun: add a key, list it as JSON; no secret printed. */
function cliRoundTrip(dbPath) {
	const bin = join(root, "apps", "cli", "dist", "bin.js");
	const env = { ...process.env, AUTHPOOL_STORE_URL: dbPath, NO_COLOR: "1" };
	const run = (args) => {
		const result = spawnSync(process.execPath, [bin, ...args], { env, encoding: "utf8" });
		check(result.status === 0, `cli ${args[0]}: exit ${result.status} (${result.stderr.trim()})`);
		return result.stdout;
	};
	run(["add", "openai", "--api-key", "test-key-bun-smoke"]);
	const listed = JSON.parse(run(["list", "--json"]));
	check(listed.credentials?.length === 1 && listed.credentials[0].provider === "openai", "cli list: the added key");
	check(!JSON.stringify(listed).includes("test-key-bun-smoke"), "cli list: no secret printed");
	console.log("cli (built bin) on Bun: ok (add, list --json, no secret printed)");
}

const dir = mkdtempSync(join(tmpdir(), "authpool-bun-smoke-"));
try {
	await quickStart("memory store", async () => createMemoryStore());
	await quickStart("sqlite store (bun:sqlite)", () => createSqliteStore({ path: join(dir, "auth.db") }));
	await brokerRoundTrip(join(dir, "broker.db"));
	cliRoundTrip(join(dir, "cli.db"));
	const loaded = Object.keys(require.cache).filter((path) => path.includes("better-sqlite3"));
	check(loaded.length === 0, `better-sqlite3 was loaded on Bun: ${loaded.join(", ")}`);
} finally {
	rmSync(dir, { recursive: true, force: true });
}
