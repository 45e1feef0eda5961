// Run by scripts/bun-check.mjs with plain `bun` (no test runner, no source condition): the BUILT
// packages (dist, as published) load on Bun and a small flow works against the fake provider —
// the README's quick start on a SQLite file (bun:sqlite) and on the memory store, and every usage
// plugin's factory. Throws (exit 1) on the first difference.
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

const dir = mkdtempSync(join(tmpdir(), "authpool-bun-smoke-"));
try {
	await quickStart("memory store", async () => createMemoryStore());
	await quickStart("sqlite store (bun:sqlite)", () => createSqliteStore({ path: join(dir, "auth.db") }));
	const loaded = Object.keys(require.cache).filter((path) => path.includes("better-sqlite3"));
	check(loaded.length === 0, `better-sqlite3 was loaded on Bun: ${loaded.join(", ")}`);
} finally {
	rmSync(dir, { recursive: true, force: true });
}
