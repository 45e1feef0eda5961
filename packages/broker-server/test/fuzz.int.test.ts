/**
 * 10,000 malformed, oversized and wrongly-typed requests derived from the protocol schemas: every answer
 * is a 4xx with an `{error}` body, the broker keeps serving, and its heap stays roughly flat.
 */

import { Agent, request } from "node:http";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
	BROKER_ROUTES,
	blockRequestSchema,
	clientUsageReportSchema,
	disableRequestSchema,
	upsertRequestSchema,
	usageStaleRequestSchema,
} from "@authpool/broker-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { ADMIN, CLIENT, startWorld, type World } from "./support";

let world: World;
beforeAll(async () => {
	world = await startWorld({ refreshRateLimit: false });
	const account = world.fake.addAccount("anthropic", { email: "fuzz@example.com" });
	await world.call("/v1/credential", {
		method: "POST",
		body: JSON.stringify({ provider: "anthropic", credential: account.credential }),
	});
});
afterAll(async () => {
	const tokens = world.refreshTokens();
	await world.close();
	const everything = world.received.join("\n");
	for (const token of tokens) expect(everything.includes(token)).toBe(false);
});

/** Deterministic PRNG (mulberry32). */
function prng(seed: number) {
	let a = seed;
	return () => {
		a = (a + 0x6d2b79f5) | 0;
		let t = Math.imul(a ^ (a >>> 15), 1 | a);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
	};
}

const WRONG_VALUES: unknown[] = [
	null,
	true,
	-1,
	1e308,
	Number.MAX_SAFE_INTEGER + 2,
	"",
	" ",
	"x".repeat(2_000),
	[],
	[1, 2],
	{},
	{ nested: { deeper: [{}] } },
	"__remote__",
	"\u0000\uffff",
	"1; DROP TABLE x",
];

function fieldsOf(schema: z.ZodType): string[] {
	const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
	return shape ? Object.keys(shape) : [];
}

const VALID: Record<string, Record<string, unknown>> = {
	block: { providerKey: "anthropic:oauth", blockedUntilMs: 1 },
	disable: { cause: "x" },
	upsert: {
		provider: "anthropic",
		credential: { type: "oauth", access: "test-access-f", refresh: "test-refresh-f", expires: 1 },
	},
	usageStale: { provider: "anthropic" },
	usageObserved: {
		installId: "fuzz",
		entries: [
			{
				at: 1,
				provider: "anthropic",
				model: "m",
				requests: 1,
				inputTokens: 1,
				outputTokens: 1,
				cacheReadTokens: 0,
				cacheWriteTokens: 0,
				costUsd: 0,
			},
		],
	},
};
const SCHEMAS: Record<string, z.ZodType> = {
	block: blockRequestSchema,
	disable: disableRequestSchema,
	upsert: upsertRequestSchema,
	usageStale: usageStaleRequestSchema,
	usageObserved: clientUsageReportSchema,
};

type Case = { method: string; path: string; body?: string; headers?: Record<string, string> };

function makeCase(random: () => number): Case {
	const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
	const kind = Math.floor(random() * 8);
	const ids = ["0", "-1", "abc", "1.5", "99999999999999999999", "%00", "1e3", "0x10", "..%2F..", "１"];
	const bodied = ["block", "disable", "upsert", "usageStale", "usageObserved"] as const;
	const name = pick(bodied);
	const route = BROKER_ROUTES[name];
	const path = route.path.replace("{id}", "1");
	switch (kind) {
		case 0: {
			// One field of a valid body replaced by a wrong-typed value.
			// Drawn until the schema itself rejects the body, so every case is invalid by construction.
			for (let tries = 0; tries < 50; tries += 1) {
				const body = structuredClone(VALID[name]!);
				body[pick(fieldsOf(SCHEMAS[name]!))] = pick(WRONG_VALUES);
				if (!SCHEMAS[name]!.safeParse(body).success) return { method: route.method, path, body: JSON.stringify(body) };
			}
			return { method: route.method, path, body: "[]" };
		}
		case 1: {
			// An unknown key in a strict envelope.
			const body = { ...VALID[name]!, [`extra${Math.floor(random() * 1000)}`]: pick(WRONG_VALUES) };
			return { method: route.method, path, body: JSON.stringify(body) };
		}
		case 2: {
			// Not JSON / truncated JSON.
			const text = JSON.stringify(VALID[name]!);
			return { method: route.method, path, body: text.slice(0, Math.max(1, Math.floor(random() * (text.length - 1)))) };
		}
		case 3:
			// Oversized body.
			return {
				method: route.method,
				path,
				body: JSON.stringify({ pad: "y".repeat(70_000 + Math.floor(random() * 1000)) }),
			};
		case 4: {
			// Bad credential id on any id route.
			const idRoute = pick([BROKER_ROUTES.refresh, BROKER_ROUTES.disable, BROKER_ROUTES.block, BROKER_ROUTES.unblock]);
			return { method: idRoute.method, path: idRoute.path.replace("{id}", pick(ids)) };
		}
		case 5: {
			// Bad query values on query routes.
			const target = pick([
				["/v1/snapshot", "wait"],
				["/v1/usage", "maxAgeMs"],
				["/v1/usage/history", "sinceMs"],
				["/v1/usage/history", "provider"],
				["/v1/credentials/disabled", "provider"],
			] as const);
			const value = pick(["-5", "abc", "1e9", "99999999999999999", "", "Ä", "__proto__", "1000"]);
			return { method: "GET", path: `${target[0]}?${target[1]}=${encodeURIComponent(value)}&${target[1]}=2` };
		}
		case 6: {
			// Wrong-typed nested credential.
			const credential = {
				type: pick(["oauth", "api_key", "bogus", 1]),
				access: pick(WRONG_VALUES),
				key: pick(WRONG_VALUES),
			};
			return {
				method: "POST",
				path: "/v1/credential",
				body: JSON.stringify({ provider: pick(["", "UP", "a/b", 7]), credential }),
			};
		}
		default: {
			// Unknown routes and methods.
			const junk = Math.floor(random() * 1e9).toString(36);
			return {
				method: pick(["GET", "POST", "PUT", "PATCH"]),
				path: pick([`/v1/${junk}`, `/${junk}`, "/v1/credential/1/refresh/x", "/v2/snapshot"]),
			};
		}
	}
}

// node:http with keep-alive: a lighter client than fetch, so the broker, not the client, is measured.
const agent = new Agent({ keepAlive: true, maxSockets: 16 });
function send(c: Case, token: string): Promise<{ status: number; text: string }> {
	const url = new URL(`${world.broker.url}${c.path}`);
	return new Promise((resolve, reject) => {
		const req = request(
			{
				agent,
				host: url.hostname,
				port: url.port,
				path: `${url.pathname}${url.search}`,
				method: c.method,
				headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
			},
			(res) => {
				let text = "";
				res.setEncoding("utf8");
				res.on("data", (chunk: string) => {
					text += chunk;
				});
				res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
				res.on("error", reject);
			},
		);
		// A 413 may close the socket before the whole body is written: that is an answer, not a failure.
		req.on("error", reject);
		req.end(c.body);
	});
}

/** Heap after a full collection (the flag is set at runtime so the measure does not depend on how vitest started). */
setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;
function settledHeap(): number {
	collect();
	collect();
	return process.memoryUsage().heapUsed;
}

describe("fuzzing the broker from its schemas", () => {
	it("10,000 bad requests → only 4xx with {error}; the broker stays up; the heap stays roughly flat", async () => {
		const random = prng(20_261_204);
		const cases = Array.from({ length: 10_000 }, () => makeCase(random));
		const statuses = new Map<number, number>();
		let nonError = 0;
		const heapBefore = settledHeap();
		const started = performance.now();
		let next = 0;
		const worker = async () => {
			while (next < cases.length) {
				const c = cases[next++]!;
				const res = await send(c, random() < 0.5 ? ADMIN : CLIENT);
				const text = res.text;
				world.received.push(text);
				statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
				if (res.status < 400 || res.status >= 500) {
					nonError += 1;
					console.log("unexpected", res.status, c.method, c.path, (c.body ?? "").slice(0, 200), text.slice(0, 200));
				} else if (typeof (JSON.parse(text) as { error?: unknown }).error !== "string") {
					nonError += 1;
				}
			}
		};
		await Promise.all(Array.from({ length: 16 }, worker));
		agent.destroy();
		const seconds = (performance.now() - started) / 1000;
		const answered = world.received.join("\n");
		for (const token of world.refreshTokens()) expect(answered.includes(token)).toBe(false);
		// The recorded answers are the test's, not the broker's: drop them before measuring.
		world.received.length = 0;
		const heapAfter = settledHeap();
		console.log(
			`fuzz: ${cases.length} requests in ${seconds.toFixed(1)} s (${(cases.length / seconds).toFixed(0)}/s); statuses ${JSON.stringify(Object.fromEntries(statuses))}; heap ${(heapBefore / 1e6).toFixed(1)} → ${(heapAfter / 1e6).toFixed(1)} MB`,
		);
		expect(nonError).toBe(0);
		expect([...statuses.keys()].every((status) => status >= 400 && status < 500)).toBe(true);
		const health = await world.call("/v1/healthz", { token: null });
		expect(health.status).toBe(200);
		expect((await world.call("/v1/snapshot", { token: CLIENT })).status).toBe(200);
		// Roughly flat after a full GC: 10,000 requests that each kept even 2 kB would add 20 MB.
		expect(heapAfter - heapBefore).toBeLessThan(16e6);
	}, 60_000);
});
