import { spawn } from "node:child_process";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, runCli, startCli, tempHome } from "./run-cli";

let fake: FakeProvider;
beforeAll(async () => {
	fake = await startFakeProvider();
});
afterAll(async () => {
	await fake.close();
});

describe("long-running commands stop cleanly on Ctrl-C", () => {
	it("authpool gateway serves the store's pool; usage --watch redraws", async () => {
		const home = tempHome();
		const account = fake.addAccount("anthropic", { email: "gw@example.com", quota: 5 });
		const env = { HOME: home, AUTHPOOL_FAKE_PROVIDER_URL: fake.url, AUTHPOOL_GATEWAY_TOKENS: "cli-gateway-token-1" };
		const added = await runCli(["add", "anthropic", "--oauth-json", "-"], {
			home,
			env,
			stdin: JSON.stringify(account.credential),
		});
		expect(added.code).toBe(0);

		const gateway = startCli(["gateway", "--port", "0"], env);
		const watch = startCli(["usage", "--watch", "--interval", "1"], env);
		const [, url] = await gateway.waitFor(/Gateway on (http:\/\/127\.0\.0\.1:\d+)/);
		const response = await fetch(`${url}/anthropic/v1/messages`, {
			method: "POST",
			headers: { "x-api-key": "cli-gateway-token-1", "content-type": "application/json" },
			body: JSON.stringify({ model: "m" }),
		});
		expect(response.status).toBe(200);
		expect(((await response.json()) as { fakeAccountId: string }).fakeAccountId).toBe(account.id);
		const denied = await fetch(`${url}/anthropic/v1/messages`, { method: "POST", body: "{}" });
		expect(denied.status).toBe(401);
		expect(await gateway.stop()).toBe(0);
		expect(gateway.output().stdout).not.toContain(account.accessToken);
		expect(gateway.output().stdout).not.toContain("cli-gateway-token-1");

		// Two renders of the watch (the second after the 1 s interval), then Ctrl-C.
		await watch.waitFor(/gw@example\.com[\s\S]*updated[\s\S]*gw@example\.com[\s\S]*updated/);
		expect(await watch.stop()).toBe(0);
		expect(watch.output().stdout).toMatch(/Claude 5 Hour/);
	});
});

describe("device-code login", () => {
	it("login kimi-code shows the code, waits for approval and stores the account", async () => {
		const deviceFake = await startFakeProvider({ deviceIntervalSeconds: 1 });
		try {
			const home = tempHome();
			const child = spawn(process.execPath, [BIN, "login", "kimi-code"], {
				env: { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1", AUTHPOOL_FAKE_PROVIDER_URL: deviceFake.url },
			});
			let stderr = "";
			let stdout = "";
			child.stdout.on("data", (d) => {
				stdout += d;
			});
			let approved = false;
			child.stderr.on("data", (d) => {
				stderr += d;
				const code = /Enter code: (\S+)/.exec(stderr)?.[1];
				if (code && !approved) {
					approved = true;
					deviceFake.approveDeviceCode(code, { email: "kim@example.com" });
				}
			});
			const exit = await new Promise<number | null>((resolve) => child.on("close", resolve));
			expect(exit).toBe(0);
			expect(stderr).toMatch(/Open this URL to log in:/);
			expect(stdout).toMatch(/Logged in to kimi-code as #1/);
			const list = JSON.parse((await runCli(["list", "--json"], { home })).stdout) as {
				credentials: Array<{ provider: string }>;
			};
			expect(list.credentials.map((c) => c.provider)).toEqual(["kimi-code"]);
		} finally {
			await deviceFake.close();
		}
	});
});
