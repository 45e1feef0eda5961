import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultStore, runCli, tempHome } from "./run-cli";

let fake: FakeProvider;
beforeAll(async () => {
	fake = await startFakeProvider();
});
afterAll(async () => {
	await fake.close();
});

const oauthJson = (fields: Record<string, unknown>) => JSON.stringify(fields);

function expectOneLineError(result: { stderr: string; stdout: string }) {
	const lines = result.stderr.trim().split("\n");
	expect(lines).toHaveLength(1);
	expect(lines[0]).toMatch(/^authpool: /);
	expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe("bad input: one line on stderr, a non-zero exit, nothing written", () => {
	it("rejects each bad invocation with its exit code", async () => {
		const home = tempHome();
		const cases: Array<[string[], number, RegExp, string?]> = [
			[["add", "no-such-provider", "--api-key", "test-key-1"], 2, /unknown provider "no-such-provider"/],
			[["add", "anthropic", "--oauth-json", "{not json"], 2, /--oauth-json: not valid JSON/],
			[["add", "anthropic", "--oauth-json", '{"access":"a"}'], 2, /missing refresh/],
			[["add", "anthropic", "--oauth-json", "@/nonexistent/tokens.json"], 4, /cannot read \/nonexistent\/tokens.json/],
			[["add", "anthropic"], 2, /exactly one of --api-key or --oauth-json/],
			[["add", "zai", "--api-key", "-"], 2, /--api-key: empty key/, ""],
			[["--store", "postgres://127.0.0.1:1/nothing", "list"], 3, /cannot open store postgres:\/\/127.0.0.1:1\/nothing/],
			[["--store", "ftp://example.invalid/x", "list"], 2, /unsupported scheme "ftp"/],
			[
				["--store", "sqlite:/etc/passwd/a.db", "list"],
				3,
				/cannot open store sqlite:\/etc\/passwd\/a.db: \/etc\/passwd is not a directory/,
			],
			[["--store", "sqlite:/proc/no/such/dir/a.db", "list"], 3, /cannot create directory \/proc\/no/],
			[["list", "no-such-provider"], 2, /unknown provider/],
			[["remove", "abc", "--yes"], 2, /not a credential id/],
			[["remove", "1"], 2, /pass --yes/],
			[["import", "not-a-tool"], 2, /unknown import source "not-a-tool"/],
			[["import", "claude-code"], 4, /\.credentials\.json: no such file/],
			[["history", "--since", "yesterday"], 2, /--since: expected a duration/],
			[["usage", "--interval", "0"], 2, /--interval/],
			[["--no-such-option"], 2, /unknown option '--no-such-option'/],
			[["no-such-command"], 2, /unknown command 'no-such-command'/],
			[["keys", "rotate"], 2, /set AUTHPOOL_ENCRYPTION_KEYS/],
			[["gateway"], 2, /set AUTHPOOL_GATEWAY_TOKENS/],
		];
		const results = await Promise.all(cases.map(([args, , , stdin]) => runCli(args, { home, stdin: stdin ?? "" })));
		for (const [i, [args, code, message]] of cases.entries()) {
			const result = results[i]!;
			expect({ args, code: result.code }).toEqual({ args, code });
			expect(result.stderr).toMatch(message);
			expectOneLineError(result);
		}
		expect(existsSync(defaultStore(home))).toBe(false);
	});

	it("--json errors are a JSON document on stdout too", async () => {
		const result = await runCli(["--json", "add", "nope", "--api-key", "test-key-1"], { home: tempHome() });
		expect(result.code).toBe(2);
		expect(JSON.parse(result.stdout)).toEqual({ error: expect.stringMatching(/unknown provider/), exitCode: 2 });
	});
});

describe("add, list, remove", () => {
	it("stores credentials, lists fingerprints (secrets only with --show-secrets), removes by id", async () => {
		const home = tempHome();
		const added = await runCli(["add", "zai", "--api-key", "-", "--json"], { home, stdin: "test-key-zai-1\n" });
		expect(added.code).toBe(0);
		expect(JSON.parse(added.stdout)).toMatchObject({ id: 1, provider: "zai", type: "api_key", added: true });
		const oauth = await runCli(
			[
				"add",
				"anthropic",
				"--oauth-json",
				oauthJson({
					access: "test-access-1",
					refresh: "test-refresh-1",
					expires: Date.now() + 3_600_000,
					email: "a@example.com",
				}),
			],
			{ home },
		);
		expect(oauth.stdout).toMatch(/Added anthropic login #2 \(a@example.com\)/);

		const [list, human, shown] = await Promise.all([
			runCli(["list", "--json"], { home }),
			runCli(["list"], { home }),
			runCli(["list", "--show-secrets", "--json"], { home }),
		]);
		const parsed = JSON.parse(list.stdout) as { credentials: Array<Record<string, unknown>> };
		expect(parsed.credentials.map((c) => [c.id, c.provider, c.type, c.status])).toEqual([
			[1, "zai", "api_key", "active"],
			[2, "anthropic", "oauth", "active"],
		]);
		for (const text of [list.stdout, human.stdout, added.stdout, oauth.stdout]) {
			expect(text).not.toContain("test-key-zai-1");
			expect(text).not.toContain("test-access-1");
			expect(text).not.toContain("test-refresh-1");
		}
		expect(human.stdout).toMatch(/a@example.com\s+active/);
		expect(shown.stdout).toContain("test-key-zai-1");

		const removed = await runCli(["remove", "1", "--yes", "--json"], { home });
		expect(JSON.parse(removed.stdout)).toEqual({ removed: [1] });
		const missing = await runCli(["remove", "1", "--yes"], { home });
		expect(missing.code).toBe(4);
		const all = JSON.parse((await runCli(["list", "--all", "--json"], { home })).stdout) as {
			credentials: Array<{ id: number; status: string; disabledCause?: string }>;
		};
		expect(all.credentials.find((c) => c.id === 1)).toMatchObject({
			status: "disabled",
			disabledCause: expect.any(String),
		});
		// A bad add afterwards writes nothing.
		const before = JSON.parse((await runCli(["list", "--json"], { home })).stdout).credentials.length;
		await runCli(["add", "anthropic", "--oauth-json", "[1,2]"], { home });
		expect(JSON.parse((await runCli(["list", "--json"], { home })).stdout).credentials.length).toBe(before);
	});
});

describe("import", () => {
	function writeFixtures(home: string) {
		const now = Date.now();
		mkdirSync(join(home, ".claude"), { recursive: true });
		writeFileSync(
			join(home, ".claude", ".credentials.json"),
			JSON.stringify({
				claudeAiOauth: {
					accessToken: "test-claude-access-1",
					refreshToken: "test-claude-refresh-1",
					expiresAt: now + 3_600_000,
					scopes: ["user:inference"],
					subscriptionType: "max",
				},
			}),
		);
		mkdirSync(join(home, ".codex"), { recursive: true });
		writeFileSync(
			join(home, ".codex", "auth.json"),
			JSON.stringify({
				OPENAI_API_KEY: null,
				tokens: {
					access_token: "test-codex-access-1",
					refresh_token: "test-codex-refresh-1",
					account_id: "acct-codex-1",
				},
				last_refresh: new Date(now).toISOString(),
			}),
		);
		mkdirSync(join(home, ".gemini"), { recursive: true });
		writeFileSync(
			join(home, ".gemini", "oauth_creds.json"),
			JSON.stringify({
				access_token: "test-gemini-access-1",
				refresh_token: "test-gemini-refresh-1",
				expiry_date: now + 3_600_000,
				token_type: "Bearer",
			}),
		);
		mkdirSync(join(home, ".local", "share", "opencode"), { recursive: true });
		writeFileSync(
			join(home, ".local", "share", "opencode", "auth.json"),
			JSON.stringify({
				"github-copilot": {
					type: "oauth",
					access: "test-copilot-access-1",
					refresh: "test-copilot-refresh-1",
					expires: 0,
				},
				zai: { type: "api", key: "test-zai-key-1" },
				somewhere: { type: "wellknown", key: "x", token: "y" },
			}),
		);
		mkdirSync(join(home, ".omp", "agent"), { recursive: true });
		const db = new Database(join(home, ".omp", "agent", "agent.db"));
		db.exec(
			"CREATE TABLE auth_credentials (id INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT NOT NULL, credential_type TEXT NOT NULL, data TEXT NOT NULL, disabled_cause TEXT DEFAULT NULL, identity_key TEXT DEFAULT NULL, created_at INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL DEFAULT 0)",
		);
		const insert = db.prepare(
			"INSERT INTO auth_credentials (provider, credential_type, data, disabled_cause) VALUES (?, ?, ?, ?)",
		);
		insert.run(
			"anthropic",
			"oauth",
			JSON.stringify({
				access: "test-omp-access-1",
				refresh: "test-omp-refresh-1",
				expires: now + 60_000,
				email: "omp@example.com",
			}),
			null,
		);
		insert.run("kimi-code", "api_key", JSON.stringify({ key: "test-omp-kimi-1" }), null);
		insert.run(
			"anthropic",
			"oauth",
			JSON.stringify({ access: "gone", refresh: "gone", expires: 1 }),
			"deleted by user",
		);
		db.close();
	}

	it("finds every tool's login, imports them once, and never prints a token", async () => {
		const home = tempHome();
		writeFixtures(home);
		const dry = await runCli(["import", "--dry-run", "--json"], { home });
		expect(dry.code).toBe(0);
		expect(JSON.parse(dry.stdout).sources).toEqual(["claude-code", "codex", "gemini-cli", "opencode", "oh-my-pi"]);
		expect(existsSync(defaultStore(home))).toBe(false);

		const result = await runCli(["import", "--json"], { home });
		expect(result.code).toBe(0);
		const body = JSON.parse(result.stdout) as {
			imported: Array<{ source: string; provider: string; added: boolean; account: string | null }>;
			skipped: Array<{ source: string; reason: string }>;
		};
		expect(body.imported.map((i) => `${i.source}:${i.provider}`)).toEqual([
			"claude-code:anthropic",
			"codex:openai-codex",
			"gemini-cli:google-gemini-cli",
			"opencode:github-copilot",
			"opencode:zai",
			"oh-my-pi:anthropic",
			"oh-my-pi:kimi-code",
		]);
		expect(body.imported.find((i) => i.provider === "openai-codex")?.account).toBe("acct-codex-1");
		expect(body.skipped).toEqual([{ source: "opencode", reason: "somewhere: wellknown entries are not importable" }]);
		expect(result.stdout).not.toMatch(/test-[a-z]+-(access|refresh|key)-1/);

		const again = JSON.parse((await runCli(["import", "codex", "--json"], { home })).stdout) as {
			imported: Array<{ added: boolean }>;
		};
		expect(again.imported).toEqual([expect.objectContaining({ added: false })]);
		const list = JSON.parse((await runCli(["list", "--json"], { home })).stdout) as { credentials: unknown[] };
		expect(list.credentials).toHaveLength(7);
		// The oh-my-pi database was only read.
		const omp = new Database(join(home, ".omp", "agent", "agent.db"), { readonly: true });
		expect((omp.prepare("SELECT COUNT(*) AS n FROM auth_credentials").get() as { n: number }).n).toBe(3);
		omp.close();
	});

	it("a malformed file stops the import before anything is written", async () => {
		const home = tempHome();
		writeFixtures(home);
		writeFileSync(join(home, ".claude", ".credentials.json"), "{ truncated");
		const result = await runCli(["import"], { home });
		expect(result.code).toBe(2);
		expect(result.stderr).toMatch(/\.credentials\.json: not valid JSON/);
		expectOneLineError(result);
		expect(existsSync(defaultStore(home))).toBe(false);
		const wrongShape = await runCli(["import", "codex", "--file", join(home, ".gemini", "oauth_creds.json")], { home });
		expect(wrongShape.code).toBe(2);
		expect(wrongShape.stderr).toMatch(/no tokens and no OPENAI_API_KEY/);
	});
});

describe("against the fake provider", () => {
	const env = () => ({ AUTHPOOL_FAKE_PROVIDER_URL: fake.url });

	it("check, usage and history report each account; check exits 5 on a revoked one", async () => {
		const home = tempHome();
		const good = fake.addAccount("anthropic", {
			email: "good@example.com",
			quota: 10,
			usage: { primary: { usedPercent: 40 } },
		});
		const bad = fake.addAccount("anthropic", { email: "bad@example.com" });
		for (const account of [good, bad]) {
			const r = await runCli(["add", "anthropic", "--oauth-json", "-"], {
				home,
				env: env(),
				stdin: JSON.stringify(account.credential),
			});
			expect(r.code).toBe(0);
		}
		const [usage, table] = await Promise.all([
			runCli(["usage", "--json"], { home, env: env() }),
			runCli(["usage"], { home, env: env() }),
		]);
		expect(usage.code).toBe(0);
		const accounts = (
			JSON.parse(usage.stdout) as {
				accounts: Array<{ account: string; report: { limits: Array<{ amount: { usedFraction?: number } }> } }>;
			}
		).accounts;
		const goodUsage = accounts.find((a) => a.account === "good@example.com");
		expect(goodUsage?.report.limits[0]?.amount.usedFraction).toBeCloseTo(0.4);
		expect(table.stdout).toMatch(/good@example.com/);
		expect(table.stdout).toMatch(/40%\s+resets in \d/);

		fake.revoke(bad.id);
		const [check, human, history] = await Promise.all([
			runCli(["check", "--json"], { home, env: env() }),
			runCli(["check"], { home, env: env() }),
			runCli(["history", "--json"], { home, env: env() }),
		]);
		expect(check.code).toBe(5);
		const results = (JSON.parse(check.stdout) as { results: Array<{ email?: string; ok: boolean | null }> }).results;
		expect(results.map((r) => [r.email, r.ok])).toEqual([
			["good@example.com", true],
			["bad@example.com", false],
		]);
		expect(human.code).toBe(5);
		expect(human.stderr).toMatch(/\[2\/2\] anthropic #2: failed/);
		expect(human.stdout).toMatch(/good@example.com\s+ok/);
		expect(human.stdout).toMatch(/1 ok, 1 failed/);

		const entries = (JSON.parse(history.stdout) as { entries: Array<{ email?: string; usedFraction?: number }> })
			.entries;
		expect(entries.some((e) => e.email === "good@example.com")).toBe(true);
	});

	it("login anthropic: shows the authorize URL and stores the pasted code's login", async () => {
		const home = tempHome();
		const { spawn } = await import("node:child_process");
		const { BIN } = await import("./run-cli");
		const child = spawn(process.execPath, [BIN, "login", "anthropic", "--json"], {
			env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", AUTHPOOL_FAKE_PROVIDER_URL: fake.url },
		});
		let stderr = "";
		let stdout = "";
		child.stdout.on("data", (d) => {
			stdout += d;
		});
		const code = await new Promise<number | null>((resolve) => {
			child.stderr.on("data", (d) => {
				stderr += d;
				const url = /https:\/\/\S+/.exec(stderr)?.[0];
				if (url && /authorization code/i.test(stderr) && !child.stdin.writableEnded) {
					const state = new URL(url).searchParams.get("state");
					const { code: authCode } = fake.createAuthorizationCode("anthropic", { email: "login@example.com" });
					child.stdin.end(`${authCode}#${state}\n`);
				}
			});
			child.on("close", resolve);
		});
		expect(code).toBe(0);
		expect(JSON.parse(stdout)).toMatchObject({ provider: "anthropic", id: 1, account: "login@example.com" });
		const list = JSON.parse((await runCli(["list", "--json"], { home })).stdout) as {
			credentials: Array<{ account: string }>;
		};
		expect(list.credentials.map((c) => c.account)).toEqual(["login@example.com"]);
		const noFlow = await runCli(["login", "zai"], { home });
		expect(noFlow.code).toBe(2);
		expect(noFlow.stderr).toMatch(/no login flow/);
	});
});

describe("keys", () => {
	it("migrate seals a plaintext store; rotate re-seals under a new active key", async () => {
		const home = tempHome();
		await runCli(["add", "zai", "--api-key", "test-key-sealed-1"], { home });
		const file = defaultStore(home);
		const k1 = randomBytes(32).toString("base64");
		const k2 = randomBytes(32).toString("base64");
		const migrate = await runCli(["keys", "migrate", "--json"], {
			home,
			env: { AUTHPOOL_ENCRYPTION_KEYS: `k1:${k1}` },
		});
		expect(migrate.code).toBe(0);
		expect(JSON.parse(migrate.stdout)).toMatchObject({ action: "migrate", activeKeyId: "k1", resealed: 1, failed: [] });
		const raw = new Database(file, { readonly: true });
		const dump =
			JSON.stringify(raw.prepare("SELECT * FROM sqlite_master").all()) +
			JSON.stringify(
				raw
					.prepare("SELECT name FROM sqlite_master WHERE type='table'")
					.all()
					.map((t) => raw.prepare(`SELECT * FROM "${(t as { name: string }).name}"`).all()),
			);
		raw.close();
		expect(dump).not.toContain("test-key-sealed-1");
		const listed = await runCli(["list", "--show-secrets", "--json"], {
			home,
			env: { AUTHPOOL_ENCRYPTION_KEYS: `k1:${k1}` },
		});
		expect(listed.stdout).toContain("test-key-sealed-1");
		const rotate = await runCli(["keys", "rotate", "--json"], {
			home,
			env: { AUTHPOOL_ENCRYPTION_KEYS: `k2:${k2},k1:${k1}` },
		});
		expect(JSON.parse(rotate.stdout)).toMatchObject({ activeKeyId: "k2", resealed: 1 });
		const keyFile = join(home, "keys");
		writeFileSync(keyFile, `k2:${k2}\nk1:${k1}\n`, { mode: 0o600 });
		const openKeyFile = join(home, "keys-readable");
		writeFileSync(openKeyFile, `k2:${k2}\n`, { mode: 0o644 });
		chmodSync(openKeyFile, 0o644);
		const [fromFile, readable] = await Promise.all([
			runCli(["--key-file", keyFile, "list", "--show-secrets", "--json"], { home }),
			runCli(["--key-file", openKeyFile, "list"], { home }),
		]);
		expect(fromFile.code).toBe(0);
		expect(fromFile.stdout).toContain("test-key-sealed-1");
		expect(readable.code).toBe(2);
		expectOneLineError(readable);
		const wrong = await runCli(["list"], { home, env: { AUTHPOOL_ENCRYPTION_KEYS: "k1:not-base64!" } });
		expect(wrong.code).toBe(2);
		expectOneLineError(wrong);
		expect(readFileSync(file).includes(Buffer.from("test-key-sealed-1"))).toBe(false);
	});
});
