/**
 * Broker: snapshot requests/s with 100 credentials, SSE push latency after a change (p50/p99), long-poll
 * wake latency. Reported against a same-run baseline: a bare node:http server answering the same bytes.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { hashBrokerToken, startBroker } from "@authpool/broker-server";
import { createMemoryStore } from "@authpool/core";
import { section, warmStorage } from "./common";
import { bench, table } from "./harness";

const TOKEN = "bench-client-token";

function percentile(values: number[], p: number): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

section("broker", async () => {
	const storage = await warmStorage(createMemoryStore(), 100);
	const broker = await startBroker({
		storage,
		bind: "127.0.0.1:0",
		tokens: { client: [{ hash: hashBrokerToken(TOKEN) }] },
		refresher: false,
		refreshRateLimit: false,
	});
	const headers = { authorization: `Bearer ${TOKEN}`, "authpool-broker-capabilities": "entry-diffs, block-scopes" };
	const body = await (await fetch(`${broker.url}/v1/snapshot`, { headers })).text();
	const plain = createServer((_req, res) => {
		res.writeHead(200, { "content-type": "application/json" });
		res.end(body);
	});
	await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
	const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/`;
	const options = { iterations: 200, batches: 5, warmup: 50 };
	const baseline = await bench(
		`bare node:http, same ${(body.length / 1024).toFixed(0)} KiB body`,
		async () => {
			await (await fetch(plainUrl, { headers })).text();
		},
		options,
	);
	const snapshot = await bench(
		"GET /v1/snapshot (100 credentials)",
		async () => {
			await (await fetch(`${broker.url}/v1/snapshot`, { headers })).text();
		},
		options,
	);
	const notModified = await bench(
		"GET /v1/snapshot → 304 (If-None-Match)",
		async () => {
			const etag = `"${storage.getGeneration()}"`;
			await (await fetch(`${broker.url}/v1/snapshot`, { headers: { ...headers, "if-none-match": etag } })).text();
		},
		options,
	);

	// SSE push latency: change one row's block, time until its `entry` frame arrives.
	const controller = new AbortController();
	const stream = await fetch(`${broker.url}/v1/snapshot/stream`, { headers, signal: controller.signal });
	const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
	let buffer = "";
	let onFrame: ((text: string) => void) | undefined;
	const pump = (async () => {
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done) return;
				buffer += value;
				let cut = buffer.indexOf("\n\n");
				while (cut !== -1) {
					const frame = buffer.slice(0, cut);
					buffer = buffer.slice(cut + 2);
					onFrame?.(frame);
					cut = buffer.indexOf("\n\n");
				}
			}
		} catch {
			// aborted
		}
	})();
	const ids = storage.listStoredCredentials("bench").map((row) => row.id);
	const push: number[] = [];
	for (let i = 0; i < 60; i += 1) {
		const id = ids[i % ids.length]!;
		const arrived = new Promise<void>((resolve) => {
			onFrame = (frame) => {
				if (frame.startsWith(`id:`) && frame.includes("event: entry") && frame.includes(`"id":${id},`)) resolve();
			};
		});
		const started = performance.now();
		await storage.blockCredentialById(id, { providerKey: "bench:oauth", blockedUntil: Date.now() + 60_000 + i * 1000 });
		await arrived;
		push.push(performance.now() - started);
	}
	controller.abort();
	await pump;

	// Long-poll wake latency: a waiting GET answered after a change.
	const wake: number[] = [];
	for (let i = 0; i < 30; i += 1) {
		const etag = `"${storage.getGeneration()}"`;
		const waiting = fetch(`${broker.url}/v1/snapshot?wait=10000`, { headers: { ...headers, "if-none-match": etag } });
		await new Promise((resolve) => setTimeout(resolve, 15));
		const started = performance.now();
		await storage.blockCredentialById(ids[i]!, { providerKey: "bench:oauth", blockedUntil: Date.now() + 200_000 + i });
		const res = await waiting;
		await res.text();
		wake.push(performance.now() - started);
	}
	await broker.close();
	await storage.close();
	await new Promise<void>((resolve) => plain.close(() => resolve()));
	const perSecond = (ns: number) => (1e9 / ns).toFixed(0);
	return [
		table("broker: snapshot requests (sequential, one connection pool)", [baseline, snapshot, notModified], baseline),
		"",
		`snapshot: ${perSecond(snapshot.nsPerOp)} req/s sequential (bare node:http with the same body: ${perSecond(baseline.nsPerOp)} req/s); 304: ${perSecond(notModified.nsPerOp)} req/s`,
		`SSE push latency after a change (60 changes): p50 ${percentile(push, 50).toFixed(2)} ms, p99 ${percentile(push, 99).toFixed(2)} ms`,
		`long-poll wake latency (30 waits): p50 ${percentile(wake, 50).toFixed(2)} ms, p99 ${percentile(wake, 99).toFixed(2)} ms`,
		`push p50 / bare request: ${(percentile(push, 50) / (baseline.nsPerOp / 1e6)).toFixed(2)}×; wake p50 / bare request: ${(percentile(wake, 50) / (baseline.nsPerOp / 1e6)).toFixed(2)}×`,
	].join("\n");
});
