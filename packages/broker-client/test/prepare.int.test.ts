import { createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
	type BrokerSide,
	type ClientSide,
	issuedRefreshTokens,
	startBrokerSide,
	startClient,
	upsertAccount,
} from "./support";

let fake: FakeProvider;
let side: BrokerSide;
let client: ClientSide;
const received: string[] = [];

beforeAll(async () => {
	fake = await startFakeProvider();
	side = await startBrokerSide(fake, createMemoryStore(), { refresher: { intervalMs: 200, skewMs: 61_500 } });
	client = await startClient(fake, side.broker.url, received, { stream: false });
});
afterAll(async () => {
	await client.close();
	await side.broker.close();
	await side.storage.close();
	const tokens = issuedRefreshTokens(fake);
	await fake.close();
	const everything = received.join("");
	expect(tokens.length).toBeGreaterThan(1);
	for (const token of tokens) expect(everything.includes(token)).toBe(false);
});

describe("prepare-for-request", () => {
	it("a token the broker rotates within a second is not handed out: the client waits for the fresh one", async () => {
		const account = fake.addAccount("anthropic", { email: "rotating@example.com" });
		// Fresh for the client's own 60 s skew, but due for the broker's 61.5 s skew in ~0.5 s.
		const id = await upsertAccount(side.broker.url, { ...account.credential, expires: Date.now() + 62_000 });
		await client.store.refreshSnapshot();
		await client.storage.pollChanges();
		const old = account.accessToken;
		const entry = (await client.store.rows.get(id))!;
		expect(entry.credential).toMatchObject({ access: old });
		const key = await client.storage.getApiKey("anthropic", "prepare-session");
		expect(fake.refreshCount(account.id)).toBe(1);
		expect(key).toBe(fake.account(account.id)!.accessToken);
		expect(key).not.toBe(old);
		// The client never asked for a refresh itself: the broker's sweep rotated the row.
		expect(client.counts.get(`/v1/credential/${id}/refresh`)).toBeUndefined();
	});
});
