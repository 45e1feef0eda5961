/**
 * Test world for the client: a fake Anthropic, a broker over an AuthStorage (memory store unless one is
 * given), and clients whose fetch records every byte the broker sends them.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Broker, type BrokerOptions, hashBrokerToken, startBroker } from "@authpool/broker-server";
import { type AuthCredentialStore, AuthStorage, createMemoryStore } from "@authpool/core";
import type { FakeProvider } from "@authpool/fake-provider";
import { createAnthropicPlugin } from "@authpool/usage-anthropic";
import { createRemoteStore, type RemoteCredentialStore, type RemoteStoreOptions } from "../src/index";

export const ADMIN = "test-admin-token-2";
export const CLIENT = "test-client-token-2";

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

export function tempDir(): string {
	return mkdtempSync(join(tmpdir(), "authpool-broker-client-"));
}

/** Every refresh token the fake issued or was shown. */
export function issuedRefreshTokens(fake: FakeProvider): string[] {
	const out = new Set<string>();
	for (const account of fake.accounts()) if (account.refreshToken) out.add(account.refreshToken);
	for (const request of fake.requests) {
		const body = request.body as Record<string, unknown> | undefined;
		if (body && typeof body.refresh_token === "string") out.add(body.refresh_token);
	}
	return [...out];
}

/** A fetch that keeps a copy of every response body chunk (streams included) in `received`. */
export function recordingFetch(received: string[]) {
	const counts = new Map<string, number>();
	const fetchImpl = async (input: string | URL | Request, init?: RequestInit) => {
		const res = await globalThis.fetch(input, init);
		const path = new URL(String(input)).pathname;
		counts.set(path, (counts.get(path) ?? 0) + 1);
		received.push(JSON.stringify([...res.headers]));
		if (!res.body) return res;
		const decoder = new TextDecoder();
		const tee = new TransformStream<Uint8Array, Uint8Array>({
			transform(chunk, controller) {
				received.push(decoder.decode(chunk, { stream: true }));
				controller.enqueue(chunk);
			},
		});
		return new Response(res.body.pipeThrough(tee), {
			status: res.status,
			statusText: res.statusText,
			headers: res.headers,
		});
	};
	return { fetch: fetchImpl, counts };
}

export interface BrokerSide {
	storage: AuthStorage;
	broker: Broker;
}

export async function startBrokerSide(
	fake: FakeProvider,
	store: AuthCredentialStore = createMemoryStore(),
	overrides: Partial<BrokerOptions> = {},
): Promise<BrokerSide> {
	const storage = new AuthStorage(store, { providers: [anthropicFor(fake)], env: {} });
	const broker = await startBroker({
		storage,
		bind: "127.0.0.1:0",
		tokens: { admin: [{ hash: hashBrokerToken(ADMIN) }], client: [{ hash: hashBrokerToken(CLIENT) }] },
		refresher: false,
		keepaliveMs: 1_000,
		...overrides,
	});
	return { storage, broker };
}

export interface ClientSide {
	store: RemoteCredentialStore;
	storage: AuthStorage;
	counts: Map<string, number>;
	close(): Promise<void>;
}

export async function startClient(
	fake: FakeProvider,
	url: string,
	received: string[],
	overrides: Partial<RemoteStoreOptions> = {},
): Promise<ClientSide> {
	const recorder = recordingFetch(received);
	const store = await createRemoteStore({
		token: CLIENT,
		fetch: recorder.fetch,
		minBackoffMs: 50,
		maxBackoffMs: 400,
		url,
		...overrides,
	});
	const storage = new AuthStorage(store, { providers: [anthropicFor(fake)], env: {} });
	await storage.reload();
	return {
		store,
		storage,
		counts: recorder.counts,
		async close() {
			await storage.close();
		},
	};
}

export async function until(
	check: () => boolean | Promise<boolean>,
	timeoutMs = 5_000,
	what = "condition",
): Promise<number> {
	const started = performance.now();
	for (;;) {
		if (await check()) return performance.now() - started;
		if (performance.now() - started > timeoutMs) throw new Error(`${what} not reached in ${timeoutMs} ms`);
		await new Promise((resolve) => setTimeout(resolve, 10));
	}
}

/** Admin upsert of a fake account through the broker; returns the row id. */
export async function upsertAccount(url: string, credential: unknown, provider = "anthropic"): Promise<number> {
	const res = await fetch(`${url}/v1/credential`, {
		method: "POST",
		headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
		body: JSON.stringify({ provider, credential }),
	});
	if (res.status !== 200) throw new Error(`upsert answered ${res.status}`);
	return ((await res.json()) as { id: number }).id;
}
