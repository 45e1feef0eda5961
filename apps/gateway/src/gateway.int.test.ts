import { AuthStorage, createMemoryStore, type Logger } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { createAnthropicPlugin } from "@authpool/usage-anthropic";
import { afterEach, describe, expect, it } from "vitest";
import { type Gateway, hashGatewayToken, startGateway } from "./index";

const TOKEN = "gateway-test-token-1";
let fake: FakeProvider | undefined;
let gateway: Gateway | undefined;
let storage: AuthStorage | undefined;

afterEach(async () => {
	await gateway?.close();
	await storage?.close();
	await fake?.close();
	gateway = undefined;
	storage = undefined;
	fake = undefined;
});

function recordingLogger(lines: string[]): Logger {
	const put = (message: string, fields?: Record<string, unknown>) =>
		lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
	return { debug: put, info: put, warn: put, error: put };
}

async function setup(
	specs: Array<{ quota?: number; email: string }>,
	extra: { logs?: string[]; streamChunkDelayMs?: number } = {},
) {
	fake = await startFakeProvider({ streamChunkDelayMs: extra.streamChunkDelayMs ?? 5 });
	const base = fake.baseUrl("anthropic");
	const plugin = createAnthropicPlugin({
		endpoints: {
			tokenUrl: `${base}/v1/oauth/token`,
			usageBaseUrl: `${base}/api/oauth`,
			bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
		},
	});
	const accounts = specs.map((s) => fake!.addAccount("anthropic", { ...s, windowMs: 3_600_000 }));
	storage = new AuthStorage(createMemoryStore(), { providers: [plugin] });
	await storage.reload();
	await storage.set(
		"anthropic",
		accounts.map((a) => a.credential),
	);
	gateway = await startGateway({
		storage,
		tokens: [TOKEN],
		upstreams: [{ prefix: "anthropic", provider: "anthropic", baseUrl: base, style: "anthropic" }],
		...(extra.logs ? { logger: recordingLogger(extra.logs) } : {}),
	});
	return { fake, gateway, accounts };
}

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
	return fetch(`${gateway!.url}${path}`, {
		method: "POST",
		headers: { "content-type": "application/json", "x-api-key": TOKEN, ...headers },
		body: JSON.stringify(body),
	});
}

describe("gateway", () => {
	it("streams a server-sent-event answer through as it arrives", async () => {
		const { fake, accounts } = await setup([{ email: "a@example.com", quota: 10 }], { streamChunkDelayMs: 25 });
		const started = performance.now();
		const response = await post(
			"/anthropic/v1/messages",
			{ model: "m", stream: true },
			{ "x-claude-code-session-id": "s-1" },
		);
		expect(response.status).toBe(200);
		expect(response.headers.get("content-type")).toBe("text/event-stream");
		const reader = (response.body as ReadableStream<Uint8Array>).getReader();
		const decoder = new TextDecoder();
		const arrivals: number[] = [];
		let text = "";
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			arrivals.push(performance.now() - started);
			text += decoder.decode(value, { stream: true });
		}
		expect(text).toContain("event: message_start");
		expect(text.trimEnd().endsWith('data: {"type":"message_stop"}')).toBe(true);
		// Unbuffered: the 7 events (sent 25 ms apart) arrive in separate reads spread over the stream's
		// duration; a buffering proxy would deliver them in one read at the end.
		expect(arrivals.length).toBeGreaterThan(3);
		const first = arrivals[0] as number;
		const last = arrivals[arrivals.length - 1] as number;
		console.log(`first chunk ${first.toFixed(1)} ms, last ${last.toFixed(1)} ms, ${arrivals.length} reads`);
		expect(last - first).toBeGreaterThanOrEqual(75);
		// The upstream saw the pool's key, never the gateway token.
		const upstream = fake.requests.find((r) => r.endpoint === "inference");
		expect(upstream?.headers.authorization).toBe(`Bearer ${accounts[0]!.accessToken}`);
		expect(upstream?.headers["anthropic-beta"]).toContain("oauth-2025-04-20");
		expect(JSON.stringify(upstream?.headers)).not.toContain(TOKEN);
	});

	it("on a 429 rotates to a sibling and retries with the same body; feeds rate-limit headers back", async () => {
		const { fake, gateway, accounts } = await setup([
			{ email: "a@example.com", quota: 1 },
			{ email: "b@example.com", quota: 1 },
		]);
		const body = { model: "m", messages: [{ role: "user", content: "hello" }] };
		const first = await post("/anthropic/v1/messages", body, { "x-claude-code-session-id": "s-rot" });
		expect(first.status).toBe(200);
		const firstAccount = ((await first.json()) as { fakeAccountId: string }).fakeAccountId;
		const second = await post("/anthropic/v1/messages", body, { "x-claude-code-session-id": "s-rot" });
		expect(second.status).toBe(200);
		const secondAccount = ((await second.json()) as { fakeAccountId: string }).fakeAccountId;
		expect(secondAccount).not.toBe(firstAccount);
		const inferences = fake.requests.filter((r) => r.endpoint === "inference");
		expect(inferences.map((r) => r.status)).toEqual([200, 429, 200]);
		expect(inferences[2]?.rawBody).toBe(JSON.stringify(body));
		expect(gateway.stats()).toMatchObject({ requests: 2, retries: 1, rotations: 1 });
		expect(accounts.map((a) => fake.inferenceCount(a.id)).sort()).toEqual([1, 1]);
	});

	it("answers 429 with an honest Retry-After when every account is exhausted", async () => {
		const { fake } = await setup([{ email: "a@example.com", quota: 1 }]);
		expect((await post("/anthropic/v1/messages", { model: "m" })).status).toBe(200);
		const limited = await post("/anthropic/v1/messages", { model: "m" });
		expect(limited.status).toBe(429);
		const retryAfter = Number(limited.headers.get("retry-after"));
		// The fake's window is an hour from the first request: the gateway must not promise sooner.
		expect(retryAfter).toBeGreaterThan(3_000);
		expect(retryAfter).toBeLessThanOrEqual(3_600);
		expect(((await limited.json()) as { error: string }).error).toMatch(/rate limited/);
		expect(fake.count("anthropic", "inference")).toBe(2);
	});

	it("refreshes after an upstream 401 and retries", async () => {
		const { fake, accounts } = await setup([{ email: "a@example.com", quota: 10 }]);
		fake.expireAccessToken(accounts[0]!.id);
		const response = await post("/anthropic/v1/messages", { model: "m" });
		expect(response.status).toBe(200);
		expect(fake.refreshCount(accounts[0]!.id)).toBe(1);
		expect(fake.requests.filter((r) => r.endpoint === "inference").map((r) => r.status)).toEqual([401, 200]);
	});

	it("rejects clients without a valid token and never shows upstream keys", async () => {
		const logs: string[] = [];
		const { accounts } = await setup([{ email: "a@example.com", quota: 10 }], { logs });
		const none = await fetch(`${gateway!.url}/anthropic/v1/messages`, { method: "POST", body: "{}" });
		expect(none.status).toBe(401);
		expect(((await none.json()) as { error: string }).error).toMatch(/gateway token/);
		expect((await post("/anthropic/v1/messages", {}, { "x-api-key": "not-the-token" })).status).toBe(401);
		expect((await post("/nowhere/v1/messages", {})).status).toBe(404);
		const ok = await post(
			"/anthropic/v1/messages",
			{ model: "m" },
			{ authorization: `Bearer ${TOKEN}`, "x-api-key": "" },
		);
		const text = JSON.stringify([...ok.headers]) + (await ok.text());
		for (const a of accounts) {
			expect(text).not.toContain(a.accessToken);
			expect(logs.join("\n")).not.toContain(a.accessToken);
		}
	});

	it("accepts pre-hashed tokens and refuses to start open on a public address", async () => {
		const { fake } = await setup([{ email: "a@example.com" }]);
		const hashed = await startGateway({
			storage: storage!,
			tokenHashes: [hashGatewayToken("hashed-token-1")],
			upstreams: [{ prefix: "a", provider: "anthropic", baseUrl: fake.baseUrl("anthropic"), style: "anthropic" }],
		});
		try {
			const r = await fetch(`${hashed.url}/a/v1/messages`, {
				method: "POST",
				headers: { authorization: "Bearer hashed-token-1" },
				body: JSON.stringify({ model: "m" }),
			});
			expect(r.status).toBe(200);
		} finally {
			await hashed.close();
		}
		await expect(
			startGateway({
				storage: storage!,
				bind: { host: "0.0.0.0" },
				allowUnauthenticated: true,
				upstreams: [{ prefix: "a", provider: "anthropic", baseUrl: fake.baseUrl("anthropic"), style: "anthropic" }],
			}),
		).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
	});
});
