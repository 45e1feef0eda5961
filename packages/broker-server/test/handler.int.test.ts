import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AuthStorage, createMemoryStore } from "@authpool/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BrokerHandler, createBrokerHandler, hashBrokerToken } from "../src/index";

const CLIENT = "test-client-token-1";
let storage: AuthStorage;
let broker: BrokerHandler;
let server: Server;
let base: string;

beforeAll(async () => {
	storage = new AuthStorage(createMemoryStore(), { providers: [], env: {} });
	await storage.reload();
	await storage.set("zai", { type: "api_key", key: "test-key-1" });
	broker = await createBrokerHandler({
		storage,
		tokens: { client: [{ hash: hashBrokerToken(CLIENT), name: "ci" }] },
		refresher: false,
	});
	server = createServer(async (req, res) => {
		if (await broker.handle(req, res)) return;
		res.writeHead(418, { "content-type": "text/plain" }).end("mine");
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
	await broker.close();
	await new Promise<void>((resolve) => {
		server.close(() => resolve());
		server.closeAllConnections();
	});
	await storage.close();
});

describe("createBrokerHandler", () => {
	it("answers broker routes and leaves every other path to the host server", async () => {
		const snapshot = await fetch(`${base}/v1/snapshot`, { headers: { authorization: `Bearer ${CLIENT}` } });
		expect(snapshot.status).toBe(200);
		const body = (await snapshot.json()) as { credentials: Array<{ provider: string }> };
		expect(body.credentials.map((entry) => entry.provider)).toEqual(["zai"]);
		expect((await fetch(`${base}/v1/snapshot`)).status).toBe(401);
		expect((await fetch(`${base}/v1/healthz`)).status).toBe(200);
		// A wrong method on a broker path is still the broker's (405), an unknown path is not.
		expect((await fetch(`${base}/v1/snapshot`, { method: "DELETE" })).status).toBe(405);
		const other = await fetch(`${base}/v1/nope`);
		expect([other.status, await other.text()]).toEqual([418, "mine"]);
		expect((await fetch(`${base}/`)).status).toBe(418);
	});

	it("validates options like startBroker, without the bind check", async () => {
		await expect(createBrokerHandler({ storage, tokens: { client: [{ hash: "sha256:nope" }] } })).rejects.toMatchObject(
			{ code: "INVALID_OPTIONS" },
		);
		await expect(
			createBrokerHandler({ storage, bind: "0.0.0.0:1" } as unknown as Parameters<typeof createBrokerHandler>[0]),
		).rejects.toMatchObject({ code: "INVALID_OPTIONS", message: expect.stringContaining("bind") });
	});
});
