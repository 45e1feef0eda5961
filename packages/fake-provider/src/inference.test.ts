import { afterEach, describe, expect, it } from "vitest";
import { startFakeProvider } from "./fake-provider";
import { type ManualClock as TestClock, createManualClock as testClock } from "./manual-clock";
import type { FakeProvider } from "./types";

let fake: FakeProvider | undefined;
let clock: TestClock;
afterEach(async () => {
	await fake?.close();
	fake = undefined;
});

async function start() {
	clock = testClock();
	fake = await startFakeProvider({ now: clock.now });
	return fake;
}

const HOUR = 3_600_000;

async function infer(f: FakeProvider, provider: string, authorization: string) {
	const response = await fetch(`${f.baseUrl(provider)}/inference`, {
		method: "POST",
		headers: { authorization, "content-type": "application/json" },
		body: JSON.stringify({ model: "m-1" }),
	});
	const headers: Record<string, string> = {};
	response.headers.forEach((value, name) => {
		headers[name] = value;
	});
	return { status: response.status, headers, body: (await response.json()) as Record<string, unknown> };
}

describe("inference", () => {
	it("anthropic: 200 with unified headers until the quota is spent, then 429 with retry-after", async () => {
		const f = await start();
		const a = f.addAccount("anthropic", { quota: 2, windowMs: 5 * HOUR, accessTokenTtlMs: 24 * HOUR });
		const start_ = clock.now();
		const first = await infer(f, "anthropic", `Bearer ${a.accessToken}`);
		expect(first.status).toBe(200);
		expect(first.body).toMatchObject({
			provider: "anthropic",
			fakeAccountId: a.id,
			model: "m-1",
			usage: { requests: 1, quota: 2 },
		});
		expect(first.headers["anthropic-ratelimit-unified-5h-utilization"]).toBe("0.5");
		expect(first.headers["anthropic-ratelimit-unified-5h-reset"]).toBe(String(Math.floor((start_ + 5 * HOUR) / 1000)));
		expect(first.headers["anthropic-ratelimit-unified-7d-utilization"]).toBe("0");
		expect(first.headers["anthropic-ratelimit-unified-status"]).toBe("allowed");

		clock.advance(HOUR);
		expect(
			(await infer(f, "anthropic", `Bearer ${a.accessToken}`)).headers["anthropic-ratelimit-unified-5h-utilization"],
		).toBe("1");
		const limited = await infer(f, "anthropic", `Bearer ${a.accessToken}`);
		expect(limited.status).toBe(429);
		expect(limited.headers["retry-after"]).toBe(String(4 * 3600));
		expect(limited.headers["anthropic-ratelimit-unified-5h-utilization"]).toBe("1");
		expect(limited.headers["anthropic-ratelimit-unified-status"]).toBe("rejected");
		const error = limited.body.error as { type: string; message: string };
		expect(error.type).toBe("rate_limit_error");
		expect(error.message).toMatch(/usage limit reached; quota will reset at /);
		expect(error.message).toContain(new Date(start_ + 5 * HOUR).toISOString());
		expect(f.inferenceCount(a.id)).toBe(2);
		expect(f.count("anthropic", "inference")).toBe(3);

		// The window resets on the fake clock.
		clock.advance(4 * HOUR);
		const again = await infer(f, "anthropic", `Bearer ${a.accessToken}`);
		expect(again.status).toBe(200);
		expect(again.headers["anthropic-ratelimit-unified-5h-utilization"]).toBe("0.5");
		expect(again.headers["anthropic-ratelimit-unified-5h-reset"]).toBe(
			String(Math.floor((clock.now() + 5 * HOUR) / 1000)),
		);
	});

	it("codex: x-codex headers, then a usage_limit_reached 429 showing 100 %", async () => {
		const f = await start();
		const a = f.addAccount("openai-codex", { quota: 1, plan: "pro" });
		const ok = await infer(f, "openai-codex", `Bearer ${a.accessToken}`);
		expect(ok.headers).toMatchObject({
			"x-codex-primary-used-percent": "100",
			"x-codex-primary-window-minutes": "300",
			"x-codex-primary-reset-at": String(Math.floor((clock.now() + 5 * HOUR) / 1000)),
			"x-codex-primary-reset-after-seconds": "18000",
			"x-codex-secondary-used-percent": "0",
			"x-codex-secondary-window-minutes": "10080",
			"x-codex-plan-type": "pro",
		});
		clock.advance(1000);
		const limited = await infer(f, "openai-codex", `Bearer ${a.accessToken}`);
		expect(limited.status).toBe(429);
		expect(limited.headers["retry-after"]).toBe("17999");
		expect(limited.headers["x-codex-primary-used-percent"]).toBe("100");
		expect(limited.body.error).toMatchObject({ code: "usage_limit_reached", resets_in_seconds: 17999 });
		expect((limited.body.error as { message: string }).message).toMatch(/usage limit/);
	});

	it("explicit usage at 100 % refuses inference until its reset", async () => {
		const f = await start();
		const a = f.addAccount("anthropic", {
			usage: { secondary: { usedPercent: 100, resetsAt: clock.now() + 2 * HOUR } },
		});
		const limited = await infer(f, "anthropic", `Bearer ${a.accessToken}`);
		expect(limited.status).toBe(429);
		expect(limited.headers["retry-after"]).toBe(String(2 * 3600));
		expect(limited.headers["anthropic-ratelimit-unified-7d-utilization"]).toBe("1");
		f.setUsage(a.id, { secondary: { usedPercent: 10 } });
		expect((await infer(f, "anthropic", `Bearer ${a.accessToken}`)).status).toBe(200);
	});

	it("other providers send no rate-limit headers; API keys authenticate", async () => {
		const f = await start();
		const z = f.addAccount("zai", { quota: 1 });
		const ollama = f.addAccount("ollama");
		const ok = await infer(f, "zai", `Bearer ${z.apiKey}`);
		expect(ok.status).toBe(200);
		expect(Object.keys(ok.headers).filter((h) => h.includes("ratelimit") || h.startsWith("x-codex"))).toEqual([]);
		const raw = await infer(f, "zai", z.apiKey ?? "");
		expect(raw.status).toBe(429);
		expect((raw.body.error as { message: string }).message).toMatch(/quota will reset/);
		expect((await infer(f, "ollama", `Bearer ${ollama.apiKey}`)).status).toBe(200);
	});

	it("expired, unknown, revoked or foreign tokens get 401", async () => {
		const f = await start();
		const a = f.addAccount("kimi-code");
		const other = f.addAccount("anthropic");
		expect((await infer(f, "kimi-code", "Bearer nope")).status).toBe(401);
		expect((await infer(f, "kimi-code", `Bearer ${other.accessToken}`)).status).toBe(401);
		clock.advance(HOUR);
		expect((await infer(f, "kimi-code", `Bearer ${a.accessToken}`)).status).toBe(401);
		const b = f.addAccount("kimi-code");
		f.revoke(b.id);
		expect((await infer(f, "kimi-code", `Bearer ${b.accessToken}`)).status).toBe(401);
		expect(f.inferenceCount()).toBe(0);
	});

	it("whoami identifies the token without spending quota", async () => {
		const f = await start();
		const a = f.addAccount("anthropic", { quota: 1 });
		const who = await fetch(`${f.baseUrl("anthropic")}/_fake/whoami`, {
			headers: { authorization: `Bearer ${a.accessToken}` },
		});
		expect(await who.json()).toEqual({
			fakeAccountId: a.id,
			provider: "anthropic",
			accountId: a.accountId,
			email: a.email,
			expiresAt: a.expiresAt,
		});
		expect((await infer(f, "anthropic", `Bearer ${a.accessToken}`)).status).toBe(200);
	});

	it("a generic (unknown) provider id works once it has an account", async () => {
		const f = await start();
		const a = f.addAccount("example", { quota: 1 });
		expect((await infer(f, "example", `Bearer ${a.accessToken}`)).status).toBe(200);
		expect((await infer(f, "example", `Bearer ${a.accessToken}`)).status).toBe(429);
	});
});

describe("streamed inference", () => {
	async function stream(f: FakeProvider, path: string, token: string) {
		const response = await fetch(`${f.baseUrl("anthropic")}${path}`, {
			method: "POST",
			headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
			body: JSON.stringify({ model: "m-1", stream: true }),
		});
		const arrivals: number[] = [];
		let text = "";
		const reader = (response.body as ReadableStream<Uint8Array>).getReader();
		const decoder = new TextDecoder();
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			arrivals.push(performance.now());
			text += decoder.decode(value, { stream: true });
		}
		return { response, text, arrivals };
	}

	it("answers `stream: true` with server-sent events in several chunks, Anthropic and OpenAI shapes", async () => {
		fake = await startFakeProvider({ streamChunkDelayMs: 15 });
		const a = fake.addAccount("anthropic", { quota: 5 });
		const messages = await stream(fake, "/v1/messages", a.accessToken);
		expect(messages.response.status).toBe(200);
		expect(messages.response.headers.get("content-type")).toBe("text/event-stream");
		expect(messages.response.headers.get("anthropic-ratelimit-unified-status")).toBe("allowed");
		expect(messages.text).toContain("event: message_start");
		expect(messages.text.trimEnd().endsWith('data: {"type":"message_stop"}')).toBe(true);
		expect(messages.arrivals.length).toBeGreaterThan(1);
		const chat = await stream(fake, "/v1/chat/completions", a.accessToken);
		expect(chat.text).toContain('"object":"chat.completion.chunk"');
		expect(chat.text.trimEnd().endsWith("data: [DONE]")).toBe(true);
		expect(fake.inferenceCount(a.id)).toBe(2);
	});
});
