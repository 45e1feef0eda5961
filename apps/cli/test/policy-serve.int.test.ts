import { existsSync, statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { defaultStore, runCli, tempHome } from "./run-cli";

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
