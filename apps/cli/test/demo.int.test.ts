import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { runDemo } from "../src/demo/demo";
import { createOutput } from "../src/output";
import { runCli, tempHome } from "./run-cli";

describe("the demo", () => {
	it("rotates away from the limited account, refreshes a token and ends with the usage table", async () => {
		const stdout = new PassThrough();
		let text = "";
		stdout.on("data", (d) => {
			text += d;
		});
		let dashboardServed = false;
		const result = await runDemo({
			out: createOutput(false, { stdout, stderr: new PassThrough(), env: { NO_COLOR: "1" } }),
			requests: 30,
			dashboard: async ({ gateway }) => {
				dashboardServed = true;
				return { url: `${gateway.url}/dashboard`, close: async () => {} };
			},
		});
		console.log(`demo core: ${result.elapsedMs.toFixed(0)} ms, ${result.ok} ok, ${result.rotations} rotations`);
		expect(result.ok).toBe(30);
		expect(result.rotations).toBeGreaterThanOrEqual(1);
		expect(result.byAccount["alice@example.com"]).toBe(2);
		expect(result.refreshes).toBe(1);
		expect(result.usageAccounts).toBe(3);
		expect(dashboardServed).toBe(true);
		expect(text).toMatch(/alice@example.com answered 429 after 2 requests/);
		expect(text).toMatch(/Claude 5 Hour\s+█+░*\s+100%/);
		expect(text).toContain(`Dashboard: ${result.dashboardUrl}`);
	});

	it("`authpool demo --json` exits 0 and reports the run", async () => {
		const result = await runCli(["demo", "--json", "--requests", "20"], { home: tempHome() });
		expect(result.code).toBe(0);
		const report = JSON.parse(result.stdout) as { ok: number; rotations: number; refreshes: number };
		expect(report).toMatchObject({ ok: 20, refreshes: 1 });
		expect(report.rotations).toBeGreaterThanOrEqual(1);
	});
});
