import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startFakeProvider } from "./fake-provider";
import type { FakeProvider } from "./types";

let fake: FakeProvider | undefined;
afterEach(async () => {
	await fake?.close();
	fake = undefined;
});

async function setup() {
	fake = await startFakeProvider();
	const account = fake.addAccount("anthropic");
	return { f: fake, account, tokenUrl: `${fake.baseUrl("anthropic")}/v1/oauth/token` };
}

const post = (url: string, refreshToken: string, init: RequestInit = {}) =>
	fetch(url, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: "cid" }),
		...init,
	});

describe("failNext fault modes", () => {
	it("late: rotates on arrival, answers only after delayMs", async () => {
		const { f, account, tokenUrl } = await setup();
		const old = account.refreshToken;
		f.failNext("anthropic", "token", { mode: "late", delayMs: 150 });
		const controller = new AbortController();
		const pending = post(tokenUrl, old, { signal: controller.signal }).then(
			() => "answered",
			() => "aborted",
		);
		// The grant is spent while the client is still waiting.
		await expect.poll(() => f.refreshCount(account.id), { interval: 5, timeout: 1_000 }).toBe(1);
		expect(account.refreshToken).not.toBe(old);
		controller.abort();
		expect(await pending).toBe("aborted");
		const reuse = await post(tokenUrl, old);
		expect(reuse.status).toBe(400);
		expect(await reuse.json()).toMatchObject({ error: "invalid_grant" });

		f.failNext("anthropic", "token", { mode: "late", delayMs: 60 });
		const started = Date.now();
		const late = await post(tokenUrl, account.refreshToken);
		expect(Date.now() - started).toBeGreaterThanOrEqual(50);
		expect(late.status).toBe(200);
		expect(((await late.json()) as { access_token: string }).access_token).toBe(account.accessToken);
	});

	it("redirect: 307 with Location, nothing rotates, fetch's manual mode sees it", async () => {
		const { f, account, tokenUrl } = await setup();
		const hits: string[] = [];
		const other = createServer((req, res) => {
			hits.push(req.url ?? "");
			res.end("{}");
		});
		await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
		const location = `http://127.0.0.1:${(other.address() as AddressInfo).port}/elsewhere`;
		try {
			f.failNext("anthropic", "token", { mode: "redirect", location });
			const response = await post(tokenUrl, account.refreshToken, { redirect: "manual" });
			expect(response.status).toBe(307);
			expect(response.headers.get("location")).toBe(location);
			expect(hits).toEqual([]);
			expect(f.refreshCount(account.id)).toBe(0);
			expect(f.requests.at(-1)?.status).toBe(307);
		} finally {
			await new Promise<void>((resolve) => other.close(() => resolve()));
		}
	});

	it("echoRefreshToken: quotes the presented refresh token in error and error_description", async () => {
		const { f, account, tokenUrl } = await setup();
		f.failNext("anthropic", "token", { mode: "echoRefreshToken" });
		const response = await post(tokenUrl, account.refreshToken);
		expect(response.status).toBe(400);
		const body = (await response.json()) as { error: string; error_description: string };
		expect(body.error).toContain(account.refreshToken);
		expect(body.error_description).toContain(account.refreshToken);
		expect(f.refreshCount(account.id)).toBe(0);
	});

	it("htmlForbidden: a 403 HTML page, nothing rotates", async () => {
		const { f, account, tokenUrl } = await setup();
		f.failNext("anthropic", "token", { mode: "htmlForbidden" });
		const response = await post(tokenUrl, account.refreshToken);
		expect(response.status).toBe(403);
		expect(response.headers.get("content-type")).toMatch(/text\/html/);
		expect(await response.text()).toMatch(/^<!DOCTYPE html>/);
		expect(f.refreshCount(account.id)).toBe(0);
	});

	it("zeroExpiry: a real rotation whose answer says expires_in 0 (or the given value)", async () => {
		const { f, account, tokenUrl } = await setup();
		f.failNext("anthropic", "token", { mode: "zeroExpiry" });
		const zero = (await (await post(tokenUrl, account.refreshToken)).json()) as Record<string, unknown>;
		expect(zero).toMatchObject({ expires_in: 0, refresh_token: account.refreshToken });
		expect(f.refreshCount(account.id)).toBe(1);
		f.failNext("anthropic", "token", { mode: "zeroExpiry", expiresIn: -5 });
		const negative = (await (await post(tokenUrl, account.refreshToken)).json()) as Record<string, unknown>;
		expect(negative.expires_in).toBe(-5);
		expect(f.refreshCount(account.id)).toBe(2);
		// Error answers are left alone.
		f.failNext("anthropic", "token", { mode: "zeroExpiry" });
		expect((await post(tokenUrl, "not-a-token")).status).toBe(400);
	});

	it("endlessBody: keeps streaming past any cap until the client leaves; close() still works", async () => {
		const { f, account, tokenUrl } = await setup();
		f.failNext("anthropic", "token", { mode: "endlessBody" });
		const response = await post(tokenUrl, account.refreshToken);
		expect(response.status).toBe(200);
		const reader = (response.body as ReadableStream<Uint8Array>).getReader();
		let received = 0;
		while (received <= 4 * 1_048_576) {
			const { done, value } = await reader.read();
			expect(done).toBe(false);
			received += value?.byteLength ?? 0;
		}
		await reader.cancel();
		expect(f.refreshCount(account.id)).toBe(0);
		// The server is still usable afterwards.
		expect((await post(tokenUrl, account.refreshToken)).status).toBe(200);
		f.failNext("anthropic", "token", { mode: "endlessBody" });
		const again = await post(tokenUrl, account.refreshToken);
		await f.close();
		await expect(again.text()).rejects.toThrow();
	});

	it("rejects an unknown mode or a non-finite expiresIn", async () => {
		const { f } = await setup();
		expect(() => f.failNext("anthropic", "token", { mode: "nope" as never })).toThrow(/mode/);
		expect(() => f.failNext("anthropic", "token", { mode: "zeroExpiry", expiresIn: Number.NaN })).toThrow(/expiresIn/);
	});

	it("other failures keep their behaviour", async () => {
		const { f, account, tokenUrl } = await setup();
		f.failNext("anthropic", "token", { status: 503, body: "down" });
		const response = await post(tokenUrl, account.refreshToken);
		expect(response.status).toBe(503);
		expect(await response.text()).toBe("down");
	});
});
