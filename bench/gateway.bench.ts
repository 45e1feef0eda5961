/**
 * Gateway overhead: the same request sent straight to the fake provider and through the gateway, in
 * alternating blocks of one run, so both see the same machine load. Reports p50/p99 of each and the
 * difference (the latency the gateway adds: client auth, a warm pool key, header copy, one more hop).
 */
import { Agent, request } from "node:http";
import { AuthStorage, createMemoryStore } from "@authpool/core";
import { startFakeProvider } from "@authpool/fake-provider";
import { startGateway } from "@authpool/gateway";
import { section } from "./common";

const BODY = JSON.stringify({ model: "bench", max_tokens: 1, messages: [{ role: "user", content: "hi" }] });

function post(agent: Agent, url: URL, headers: Record<string, string>): Promise<number> {
	return new Promise((resolve, reject) => {
		const started = process.hrtime.bigint();
		const req = request(
			{
				hostname: url.hostname,
				port: url.port,
				path: url.pathname,
				method: "POST",
				agent,
				headers: { ...headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(BODY)) },
			},
			(res) => {
				res.resume();
				res.on("end", () => {
					if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
					else resolve(Number(process.hrtime.bigint() - started) / 1e6);
				});
			},
		);
		req.on("error", reject);
		req.end(BODY);
	});
}

const quantile = (sorted: number[], q: number) =>
	sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;

section("gateway", async () => {
	const fake = await startFakeProvider();
	const account = fake.addAccount("anthropic", { type: "api_key", apiKey: "bench-key-1" });
	const storage = new AuthStorage(createMemoryStore(), { env: {} });
	await storage.reload();
	await storage.set("anthropic", { type: "api_key", key: account.apiKey ?? "bench-key-1" });
	const token = "bench-gateway-token-1";
	const gateway = await startGateway({
		storage,
		tokens: [token],
		upstreams: [{ prefix: "anthropic", provider: "anthropic", baseUrl: fake.baseUrl("anthropic"), style: "anthropic" }],
	});
	const agent = new Agent({ keepAlive: true, maxSockets: 1 });
	const direct = new URL(`${fake.baseUrl("anthropic")}/v1/messages`);
	const viaGateway = new URL(`${gateway.url}/anthropic/v1/messages`);
	const directMs: number[] = [];
	const gatewayMs: number[] = [];
	const blocks = 20;
	const perBlock = 100;
	for (let i = 0; i < 50; i++) {
		await post(agent, direct, { "x-api-key": account.apiKey ?? "" });
		await post(agent, viaGateway, { "x-api-key": token, "x-claude-code-session-id": "bench" });
	}
	for (let b = 0; b < blocks; b++) {
		for (let i = 0; i < perBlock; i++) directMs.push(await post(agent, direct, { "x-api-key": account.apiKey ?? "" }));
		for (let i = 0; i < perBlock; i++) {
			gatewayMs.push(await post(agent, viaGateway, { "x-api-key": token, "x-claude-code-session-id": "bench" }));
		}
	}
	agent.destroy();
	await gateway.close();
	await storage.close();
	await fake.close();
	directMs.sort((a, b) => a - b);
	gatewayMs.sort((a, b) => a - b);
	const row = (name: string, values: number[]) =>
		`| ${name} | ${quantile(values, 0.5).toFixed(3)} | ${quantile(values, 0.99).toFixed(3)} |`;
	return [
		"\n## gateway overhead (loopback, keep-alive, sequential)",
		"",
		"| path | p50 ms | p99 ms |",
		"|---|---:|---:|",
		row("fake provider directly (baseline)", directMs),
		row("through the gateway", gatewayMs),
		`| added by the gateway | ${(quantile(gatewayMs, 0.5) - quantile(directMs, 0.5)).toFixed(3)} | ${(quantile(gatewayMs, 0.99) - quantile(directMs, 0.99)).toFixed(3)} |`,
		"",
		`${directMs.length} requests each, in ${blocks} alternating blocks; p50 ratio ${(quantile(gatewayMs, 0.5) / quantile(directMs, 0.5)).toFixed(2)}×`,
	].join("\n");
});
