import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testRedisUrl } from "@authpool/test-services/redis";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { defaultStore, runCli, startCli, tempHome } from "./run-cli";

/** Modification times of the SQLite file and its WAL: any write moves one. */
const stamp = (path: string) => [path, `${path}-wal`].map((p) => (existsSync(p) ? statSync(p).mtimeMs : 0));

function expectOneLineError(result: { stderr: string }) {
	const lines = result.stderr.trim().split("\n");
	expect(lines).toHaveLength(1);
	expect(lines[0]).toMatch(/^authpool: /);
}

const oauth = (email: string, n: number) =>
	JSON.stringify({ access: `test-access-${n}`, refresh: `test-refresh-${n}`, expires: Date.now() + 3_600_000, email });

describe("policy", () => {
	it("stores the priority, shows stored vs per-instance settings, refuses bad input without writing", async () => {
		const home = tempHome();
		for (const [i, email] of ["one@example.com", "two@example.com"].entries()) {
			const added = await runCli(["add", "anthropic", "--oauth-json", "-"], { home, stdin: oauth(email, i + 1) });
			expect(added.code).toBe(0);
		}
		const set = await runCli(
			[
				"policy",
				"set",
				"anthropic",
				"--priority",
				"two@example.com,1",
				"--selection",
				"fixed",
				"--reserve",
				"10",
				"--json",
			],
			{ home },
		);
		expect(set.code).toBe(0);
		expect(JSON.parse(set.stdout)).toMatchObject({
			provider: "anthropic",
			stored: true,
			persisted: {
				accountPriority: [
					{ rank: 1, selector: "two@example.com", id: 2 },
					{ rank: 2, selector: 1, id: 1 },
				],
			},
			// Checked and applied to this process only.
			options: { accountSelection: "fixed", reservePct: 10 },
		});
		const before = stamp(defaultStore(home));

		const bad: Array<[string[], number, RegExp]> = [
			[["policy", "set", "nope", "--priority", "1"], 2, /unknown provider "nope"/],
			[["policy", "show", "nope"], 2, /unknown provider "nope"/],
			[["policy", "set", "anthropic", "--reserve", "150"], 2, /--reserve: expected a percentage 0-100/],
			[["policy", "set", "anthropic", "--reserve", "abc"], 2, /--reserve: expected a percentage/],
			[["policy", "set", "anthropic", "--reserve", "40", "--reclaim", "30"], 2, /--reclaim: must be above --reserve/],
			[["policy", "set", "anthropic", "--selection", "random"], 2, /--selection: expected balanced or fixed/],
			[["policy", "set", "anthropic"], 2, /give --priority/],
			[["policy", "set", "anthropic", "--priority", "nobody@example.com"], 4, /names no active anthropic credential/],
		];
		const [results, shown] = await Promise.all([
			Promise.all(bad.map(([args]) => runCli(args, { home }))),
			runCli(["policy", "show", "anthropic"], { home }),
		]);
		for (const [i, [args, code, message]] of bad.entries()) {
			expect({ args, code: results[i]!.code }).toEqual({ args, code });
			expect(results[i]!.stderr).toMatch(message);
			expectOneLineError(results[i]!);
		}
		expect(stamp(defaultStore(home))).toEqual(before);

		// A new process: the priority came back from the store, the mode and reserve did not.
		expect(shown.code).toBe(0);
		expect(shown.stdout).toMatch(
			/Stored in the store[^\n]*\n\s+priority\s+1\s+two@example\.com \(row 2\)\n\s+priority\s+2\s+1 \(row 1\)/,
		);
		expect(shown.stdout).toMatch(/Per-instance options \(not stored[^\n]*\n\s+selection\s+balanced\n\s+reserve\s+0%/);
		const help = await runCli(["policy", "set", "--help"], { home });
		expect(help.stdout).toMatch(/not stored/);
		expect(help.stdout).toMatch(/Examples:\n\s+\$ authpool policy set/);
	});
});

describe("serve and broker+http:// stores", () => {
	it("serves a SQLite store (with a Redis layer) to `list --store broker+http://…`; refresh tokens stay on the broker", async () => {
		const redisUrl = testRedisUrl();
		const prefix = `authpool-cli-test-${process.pid}-${Date.now()}:`;
		const home = tempHome();
		const added = await runCli(["add", "anthropic", "--oauth-json", "-"], {
			home,
			stdin: oauth("served@example.com", 7),
		});
		expect(added.code).toBe(0);
		const tokenFile = join(home, "client.token");
		writeFileSync(tokenFile, "test-broker-client-1\n", { mode: 0o600 });

		const serve = startCli(
			["serve", "--bind", "127.0.0.1:0", "--client-token-file", tokenFile, "--redis", `${redisUrl}?prefix=${prefix}`],
			{ HOME: home },
		);
		const [, url] = await serve.waitFor(/Broker on (http:\/\/127\.0\.0\.1:\d+)/);
		const store = `broker+${url}`;
		const redis = new Redis(redisUrl, { lazyConnect: true });
		const [viaEnv, viaFile, secrets, wrongToken, noToken, badBind, publicNoToken, badHash, down, policy, subscribers] =
			await Promise.all([
				runCli(["--store", store, "list", "--json"], { home, env: { AUTHPOOL_BROKER_TOKEN: "test-broker-client-1" } }),
				runCli(["--store", store, "--broker-token-file", tokenFile, "list"], { home }),
				runCli(["--store", store, "--broker-token-file", tokenFile, "list", "--json", "--show-secrets"], { home }),
				runCli(["--store", store, "list"], { home, env: { AUTHPOOL_BROKER_TOKEN: "test-broker-wrong-1" } }),
				runCli(["--store", store, "list"], { home }),
				runCli(["serve", "--bind", "not a bind"], { home }),
				runCli(["serve", "--bind", "0.0.0.0:0"], { home }),
				runCli(["serve", "--client-token-hash", "sha256:xyz"], { home }),
				runCli(["--store", "broker+http://127.0.0.1:1", "list"], {
					home,
					env: { AUTHPOOL_BROKER_TOKEN: "test-broker-client-1" },
				}),
				runCli(["--store", store, "--broker-token-file", tokenFile, "policy", "set", "anthropic", "--priority", "1"], {
					home,
				}),
				redis.connect().then(() => redis.pubsub("NUMSUB", `${prefix}changes`)),
			]);
		await redis.quit();

		expect(viaEnv.code).toBe(0);
		expect(JSON.parse(viaEnv.stdout)).toMatchObject({
			store: store,
			credentials: [{ id: 1, provider: "anthropic", type: "oauth", account: "served@example.com" }],
		});
		expect(viaFile.code).toBe(0);
		expect(viaFile.stdout).toMatch(/served@example\.com/);
		// Even asked for secrets, the client holds the access token only.
		expect(JSON.parse(secrets.stdout).credentials[0]).toMatchObject({ access: "test-access-7", refresh: "__remote__" });
		for (const [result, code, message] of [
			[wrongToken, 3, /cannot open store broker\+http:\/\/127\.0\.0\.1:\d+: .*401/],
			[noToken, 2, /set AUTHPOOL_BROKER_TOKEN or pass --broker-token-file/],
			[badBind, 2, /--bind: expected host:port/],
			[publicNoToken, 2, /serve: .*token/],
			[badHash, 2, /--client-token-hash: expected sha256/],
			[down, 3, /cannot open store broker\+http:\/\/127\.0\.0\.1:1/],
			[policy, 2, /policy set: a broker store does not carry provider settings/],
		] as const) {
			expect({ code: result.code, stderr: result.stderr }).toMatchObject({
				code,
				stderr: expect.stringMatching(message),
			});
			expectOneLineError(result);
		}
		// The Redis layer is wired in: the broker's store listens on the prefix's change channel.
		expect((subscribers as [string, number])[1]).toBeGreaterThanOrEqual(1);

		expect(await serve.stop("SIGTERM")).toBe(0);
		const all = [viaEnv, viaFile, secrets, wrongToken, noToken, serve.output()]
			.map((r) => r.stdout + r.stderr)
			.join("\n");
		expect(all).not.toMatch(/test-refresh-7/);
		expect(all).not.toMatch(/test-broker-client-1/);
		expect(serve.output().stdout).toMatch(/store sqlite:.* \+ redis:\/\/.*\(prefix authpool-cli-test-/);
		const help = await runCli(["serve", "--help"], { home });
		expect(help.stdout).toMatch(/Examples:\n\s+\$ openssl rand/);
	});
});
