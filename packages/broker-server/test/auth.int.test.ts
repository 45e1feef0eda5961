import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BROKER_ROUTES } from "@authpool/broker-protocol";
import { AuthpoolError, AuthStorage, createMemoryStore } from "@authpool/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashBrokerToken, startBroker } from "../src/index";
import { TokenTable } from "../src/tokens";
import { ADMIN, CLIENT, METRICS, startWorld, type World } from "./support";

let world: World;
beforeAll(async () => {
	world = await startWorld();
});
afterAll(async () => {
	await world.close();
});

/** Which scopes each route admits (the README's matrix). */
const MATRIX: Record<string, ("admin" | "client" | "metrics")[]> = {
	snapshot: ["admin", "client"],
	stream: ["admin", "client"],
	refresh: ["admin", "client"],
	block: ["admin", "client"],
	usage: ["admin", "client"],
	usageHistory: ["admin", "client"],
	usageStale: ["admin", "client"],
	usageObserved: ["admin", "client"],
	usageClients: ["admin", "client"],
	disable: ["admin"],
	unblock: ["admin"],
	upsert: ["admin"],
	disabled: ["admin"],
	metrics: ["admin", "metrics"],
};
const TOKEN_OF = { admin: ADMIN, client: CLIENT, metrics: METRICS };

describe("authentication and scopes on every route", () => {
	const routes = Object.entries(BROKER_ROUTES).filter(([name]) => name !== "health" && name !== "openapi");

	it("401 {error} without a token, with a wrong token, or with a malformed header", async () => {
		for (const [name, route] of routes) {
			const path = route.path.replace("{id}", "1");
			for (const header of [undefined, "Bearer test-wrong-token", "Basic abc", "Bearer ", "bearer"]) {
				const res = await fetch(`${world.broker.url}${path}`, {
					method: route.method,
					headers: header === undefined ? {} : { authorization: header },
				});
				expect(res.status, `${name} ${header}`).toBe(401);
				expect(await res.json()).toEqual({ error: "unauthorized" });
			}
		}
	});

	it("403 for a scope outside the matrix, never 403 inside it", async () => {
		for (const [name, route] of routes) {
			const path = route.path.replace("{id}", "1");
			for (const scope of ["admin", "client", "metrics"] as const) {
				const controller = new AbortController();
				const res = await fetch(`${world.broker.url}${path}`, {
					method: route.method,
					headers: { authorization: `Bearer ${TOKEN_OF[scope]}` },
					signal: controller.signal,
				});
				const allowed = MATRIX[name]!.includes(scope);
				if (allowed) expect(res.status, `${name} as ${scope}`).not.toBe(403);
				else expect(res.status, `${name} as ${scope}`).toBe(403);
				expect(res.status).not.toBe(401);
				controller.abort();
			}
		}
	});

	it("the scheme is case-insensitive and the token trimmed", async () => {
		const res = await fetch(`${world.broker.url}/v1/snapshot`, { headers: { authorization: `bEaReR   ${CLIENT}  ` } });
		expect(res.status).toBe(200);
	});
});

describe("boot refusals", () => {
	const storage = () => new AuthStorage(createMemoryStore(), { env: {} });
	const refused = async (options: Parameters<typeof startBroker>[0], pattern: RegExp) => {
		const error = await startBroker(options).then(
			async (broker) => {
				await broker.close();
				return null;
			},
			(e: unknown) => e,
		);
		expect(AuthpoolError.isInstance(error), String(error)).toBe(true);
		expect((error as Error).message).toMatch(pattern);
		expect((error as Error).message).not.toContain("test-");
	};

	it("refuses empty or whitespace tokens from a file or env", async () => {
		const dir = mkdtempSync(join(tmpdir(), "authpool-broker-"));
		const file = join(dir, "empty.token");
		writeFileSync(file, "  \n");
		await refused({ storage: storage(), bind: "127.0.0.1:0", tokens: { admin: [{ file }] } }, /whitespace/);
		await refused(
			{ storage: storage(), bind: "127.0.0.1:0", tokens: { client: [{ env: "T" }] }, env: { T: "\t" } },
			/whitespace/,
		);
		await refused(
			{ storage: storage(), bind: "127.0.0.1:0", tokens: { client: [{ env: "UNSET" }] }, env: {} },
			/unset/,
		);
		expect(() => hashBrokerToken("   ")).toThrow(/whitespace/);
	});

	it("refuses one token in two scopes, malformed hashes, plain tokens in options, unknown scopes", async () => {
		const hash = hashBrokerToken("test-shared-token");
		await refused(
			{ storage: storage(), bind: "127.0.0.1:0", tokens: { admin: [{ hash }], metrics: [{ hash }] } },
			/two scopes/,
		);
		await refused(
			{
				storage: storage(),
				bind: "127.0.0.1:0",
				tokens: { admin: [{ hash }], client: [{ env: "T" }] },
				env: { T: " test-shared-token\n" },
			},
			/two scopes/,
		);
		await refused({ storage: storage(), bind: "127.0.0.1:0", tokens: { admin: [{ hash: "sha256:abc" }] } }, /hash/);
		await refused(
			{ storage: storage(), bind: "127.0.0.1:0", tokens: { admin: [{ token: "test-plain" } as never] } },
			/exactly one of hash, file, env/,
		);
		await refused({ storage: storage(), bind: "127.0.0.1:0", tokens: { root: [{ hash }] } as never }, /scope/);
	});

	it("refuses a non-loopback bind without tokens; a loopback bind without tokens serves", async () => {
		await refused({ storage: storage(), bind: "0.0.0.0:0" }, /without tokens/);
		const open = await startBroker({ storage: storage(), bind: "127.0.0.1:0" });
		expect((await fetch(`${open.url}/v1/snapshot`)).status).toBe(200);
		await open.close();
	});

	it("a taken port fails the start with the listen error", async () => {
		const port = new URL(world.broker.url).port;
		await expect(startBroker({ storage: storage(), bind: `127.0.0.1:${port}` })).rejects.toMatchObject({
			code: "EADDRINUSE",
		});
	});

	it("hashes compare equal only for the same trimmed token", () => {
		const table = new TokenTable({ client: [{ hash: hashBrokerToken("test-token-a") }] }, {});
		expect(table.authenticate("Bearer test-token-a")?.scope).toBe("client");
		expect(table.authenticate("Bearer test-token-a ")?.scope).toBe("client");
		expect(table.authenticate("Bearer test-token-b")).toBeNull();
		expect(table.authenticate("Bearer test-token-")).toBeNull();
		expect(hashBrokerToken("test-token-a\n")).toBe(hashBrokerToken("test-token-a"));
	});
});
