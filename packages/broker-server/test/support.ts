/**
 * Test world: a fake Anthropic (token + usage endpoints), an AuthStorage over a memory store, a broker
 * with one token per scope (plus a tenant-limited client token), and a recording fetch: every byte the
 * broker sends in a test file is kept so the file can scan it for refresh tokens at the end.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { createAnthropicPlugin } from "@authpool/usage-anthropic";
import { type Broker, type BrokerOptions, hashBrokerToken, startBroker } from "../src/index";

export const ADMIN = "test-admin-token-1";
export const CLIENT = "test-client-token-1";
export const METRICS = "test-metrics-token-1";
export const TENANT = "test-tenant-token-1";

export interface Reply {
	status: number;
	headers: Headers;
	text: string;
	json: () => unknown;
}

export interface World {
	fake: FakeProvider;
	storage: AuthStorage;
	broker: Broker;
	/** Every response body and stream chunk received from the broker. */
	received: string[];
	/** Every log line of the broker and of its AuthStorage. */
	logs: string[];
	call(path: string, init?: RequestInit & { token?: string | null }): Promise<Reply>;
	/** Every refresh token the fake provider issued or was shown (the secrets the broker must never send). */
	refreshTokens(): string[];
	close(): Promise<void>;
}

export function anthropicFor(fake: FakeProvider) {
	const base = fake.baseUrl("anthropic");
	return createAnthropicPlugin({
		endpoints: {
			tokenUrl: `${base}/v1/oauth/token`,
			usageBaseUrl: `${base}/api/oauth`,
			bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
		},
	});
}

export function issuedRefreshTokens(fake: FakeProvider): string[] {
	const out = new Set<string>();
	for (const account of fake.accounts()) if (account.refreshToken) out.add(account.refreshToken);
	for (const request of fake.requests) {
		const body = request.body as Record<string, unknown> | undefined;
		if (body && typeof body.refresh_token === "string") out.add(body.refresh_token);
	}
	return [...out];
}

export async function startWorld(overrides: Partial<BrokerOptions> = {}): Promise<World> {
	const fake = await startFakeProvider();
	const logs: string[] = [];
	const record = (level: string) => (message: string, fields?: Record<string, unknown>) => {
		logs.push(JSON.stringify([level, message, fields ?? null]));
	};
	const logger = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
	const storage = new AuthStorage(createMemoryStore(), { providers: [anthropicFor(fake)], env: {}, logger });
	const dir = mkdtempSync(join(tmpdir(), "authpool-broker-"));
	const metricsFile = join(dir, "metrics.token");
	writeFileSync(metricsFile, `${METRICS}\n`, { mode: 0o600 });
	const broker = await startBroker({
		storage,
		bind: "127.0.0.1:0",
		tokens: {
			admin: [{ env: "TEST_BROKER_ADMIN", name: "admin" }],
			client: [
				{ hash: hashBrokerToken(CLIENT), name: "client" },
				{ hash: hashBrokerToken(TENANT), name: "tenant", providers: ["openai-codex"] },
			],
			metrics: [{ file: metricsFile, name: "scraper" }],
		},
		env: { TEST_BROKER_ADMIN: ADMIN },
		refresher: false,
		logger,
		...overrides,
	});
	const received: string[] = [];
	return {
		fake,
		storage,
		broker,
		received,
		logs,
		async call(path, init = {}) {
			const { token = ADMIN, headers, ...rest } = init;
			const all = new Headers(headers);
			if (token !== null) all.set("authorization", `Bearer ${token}`);
			const res = await fetch(`${broker.url}${path}`, { ...rest, headers: all });
			const text = await res.text();
			received.push(text, JSON.stringify([...res.headers]));
			return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as unknown };
		},
		refreshTokens: () => issuedRefreshTokens(fake),
		async close() {
			await broker.close();
			await storage.close();
			await fake.close();
		},
	};
}

/** Read an SSE stream, recording its chunks; `frames()` are the events seen so far. */
export async function openStream(world: World, token = CLIENT, capabilities = "entry-diffs, block-scopes") {
	const controller = new AbortController();
	const res = await fetch(`${world.broker.url}/v1/snapshot/stream`, {
		headers: { authorization: `Bearer ${token}`, "authpool-broker-capabilities": capabilities },
		signal: controller.signal,
	});
	const events: { event: string; data: unknown }[] = [];
	const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
	let buffer = "";
	const pump = (async () => {
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done) return;
				world.received.push(value);
				buffer += value;
				let cut = buffer.indexOf("\n\n");
				while (cut !== -1) {
					const block = buffer.slice(0, cut);
					buffer = buffer.slice(cut + 2);
					const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
					const data = /^data: (.*)$/m.exec(block)?.[1];
					if (data !== undefined) events.push({ event, data: JSON.parse(data) });
					cut = buffer.indexOf("\n\n");
				}
			}
		} catch {
			// aborted
		}
	})();
	return {
		status: res.status,
		events,
		async waitFor(predicate: (e: { event: string; data: unknown }) => boolean, timeoutMs = 5_000) {
			const deadline = Date.now() + timeoutMs;
			for (;;) {
				const found = events.find(predicate);
				if (found) return found;
				if (Date.now() > deadline) throw new Error("stream frame did not arrive");
				await new Promise((resolve) => setTimeout(resolve, 10));
			}
		},
		async close() {
			controller.abort();
			await pump;
		},
	};
}
