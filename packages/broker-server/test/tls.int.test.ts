import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthStorage, createMemoryStore } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { hashBrokerToken, startBroker } from "../src/index";
import { BrokerMetrics } from "../src/metrics";

function get(url: string, ca: Buffer, token?: string): Promise<{ status: number; text: string }> {
	return new Promise((resolve, reject) => {
		const req = request(url, { ca, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
			let text = "";
			res.setEncoding("utf8");
			res.on("data", (chunk: string) => {
				text += chunk;
			});
			res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
		});
		req.on("error", reject);
		req.end();
	});
}

describe("TLS", () => {
	it("serves HTTPS from cert/key files", async () => {
		const dir = mkdtempSync(join(tmpdir(), "authpool-broker-tls-"));
		const certFile = join(dir, "cert.pem");
		const keyFile = join(dir, "key.pem");
		execFileSync(
			"openssl",
			["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1"].concat([
				"-subj",
				"/CN=127.0.0.1",
				"-addext",
				"subjectAltName=IP:127.0.0.1",
			]),
			{ stdio: "ignore" },
		);
		const storage = new AuthStorage(createMemoryStore(), { env: {} });
		const broker = await startBroker({
			storage,
			bind: "127.0.0.1:0",
			tls: { certFile, keyFile },
			tokens: { client: [{ hash: hashBrokerToken("test-tls-token") }] },
			refresher: false,
		});
		try {
			expect(broker.url.startsWith("https://127.0.0.1:")).toBe(true);
			const ca = readFileSync(certFile);
			expect((await get(`${broker.url}/v1/healthz`, ca)).status).toBe(200);
			expect((await get(`${broker.url}/v1/snapshot`, ca)).status).toBe(401);
			expect((await get(`${broker.url}/v1/snapshot`, ca, "test-tls-token")).status).toBe(200);
			// An untrusted certificate is refused by a default client.
			await expect(fetch(`${broker.url}/v1/healthz`)).rejects.toThrow();
		} finally {
			await broker.close();
			await storage.close();
		}
	});
});

describe("metrics text", () => {
	it("escapes label values and drops duplicate series", () => {
		const metrics = new BrokerMetrics();
		metrics.count("x_total", "help", { provider: 'a"b\\c\nd' });
		const text = metrics.render([
			{
				name: "g",
				help: "gauge",
				samples: [
					{ labels: { k: "v" }, value: 1 },
					{ labels: { k: "v" }, value: 2 },
					{ labels: { k: "w" }, value: Number.NaN },
				],
			},
		]);
		expect(text).toContain('x_total{provider="a\\"b\\\\c\\nd"} 1');
		expect(text.match(/^g\{/gm)).toHaveLength(1);
		expect(text).toContain('g{k="v"} 1');
	});
});
