import { describe, expect } from "vitest";
import { seedCredentials } from "./fixtures";
import { itWhen, resolveCapabilities, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";

const PROVIDER_KEY = "anthropic:oauth";

function keyOf(credentialId: number) {
	return { credentialId, providerKey: PROVIDER_KEY, scope: "" };
}

/** Blocks: max-merge, expiry by the clock, delete by id and by scope. */
export function describeBlocks(options: StoreConformanceOptions): void {
	describe("blocks", async () => {
		const capabilities = await resolveCapabilities(options);
		const harness = useStoreHarness(options);
		const test = itWhen(capabilities);
		const twoInstances = itWhen(capabilities, "sharedAcrossInstances");

		test("upsert stores a block and returns it with updatedAt from the clock", async () => {
			const { store, clock } = await harness.open();
			const [id1] = await seedCredentials(store, 1);
			const KEY = keyOf(id1!);
			const block = await store.blocks.upsert({ ...KEY, blockedUntil: clock.now() + 60_000 });
			expect(block).toEqual({ ...KEY, blockedUntil: clock.now() + 60_000, updatedAt: clock.now() });
			expect(await store.blocks.list()).toEqual([block]);
		});

		test("max-merge: a shorter write does not shorten a block; a longer one extends it", async () => {
			const { store, clock } = await harness.open();
			const [id1] = await seedCredentials(store, 1);
			const KEY = keyOf(id1!);
			const until = clock.now() + 60_000;
			await store.blocks.upsert({ ...KEY, blockedUntil: until });
			const shorter = await store.blocks.upsert({ ...KEY, blockedUntil: until - 30_000 });
			expect(shorter.blockedUntil).toBe(until);
			expect((await store.blocks.list()).map((block) => block.blockedUntil)).toEqual([until]);
			const longer = await store.blocks.upsert({ ...KEY, blockedUntil: until + 30_000 });
			expect(longer.blockedUntil).toBe(until + 30_000);
			expect((await store.blocks.list()).map((block) => block.blockedUntil)).toEqual([until + 30_000]);
		});

		test("list returns only unexpired blocks by the store's clock", async () => {
			const { store, clock } = await harness.open();
			const [id1, id2] = await seedCredentials(store, 2);
			const KEY = keyOf(id1!);
			await store.blocks.upsert({ ...KEY, blockedUntil: clock.now() + 1_000 });
			await store.blocks.upsert({ ...KEY, credentialId: id2!, blockedUntil: clock.now() + 10_000 });
			clock.advance(999);
			expect((await store.blocks.list()).map((block) => block.credentialId)).toEqual([id1, id2]);
			clock.advance(2);
			expect((await store.blocks.list()).map((block) => block.credentialId)).toEqual([id2]);
			clock.advance(10_000);
			expect(await store.blocks.list()).toEqual([]);
		});

		test("an expired block is replaced by a new, later one", async () => {
			const { store, clock } = await harness.open();
			const [id1] = await seedCredentials(store, 1);
			const KEY = keyOf(id1!);
			await store.blocks.upsert({ ...KEY, blockedUntil: clock.now() + 1_000 });
			clock.advance(5_000);
			const renewed = await store.blocks.upsert({ ...KEY, blockedUntil: clock.now() + 1_000 });
			expect(renewed).toMatchObject({ blockedUntil: clock.now() + 1_000, updatedAt: clock.now() });
			expect(await store.blocks.list()).toHaveLength(1);
		});

		test("scopes are separate blocks; list filters by credential and provider key", async () => {
			const { store, clock } = await harness.open();
			const [id1, id2] = await seedCredentials(store, 2);
			const KEY = keyOf(id1!);
			const until = clock.now() + 60_000;
			await store.blocks.upsert({ ...KEY, blockedUntil: until });
			await store.blocks.upsert({ ...KEY, scope: "model:opus", blockedUntil: until + 1 });
			await store.blocks.upsert({ credentialId: id2!, providerKey: "openai:api_key", scope: "", blockedUntil: until });
			const all = await store.blocks.list();
			expect(all).toHaveLength(3);
			expect((await store.blocks.list({ credentialId: id1! })).map((block) => block.scope).sort()).toEqual([
				"",
				"model:opus",
			]);
			expect((await store.blocks.list({ providerKey: "openai:api_key" })).map((block) => block.credentialId)).toEqual([
				id2,
			]);
			expect(await store.blocks.list({ credentialId: id1!, providerKey: "openai:api_key" })).toEqual([]);
		});

		test("delete drops one credential's blocks (all scopes, or one scope) and counts them", async () => {
			const { store, clock } = await harness.open();
			const [id1, id2] = await seedCredentials(store, 2);
			const KEY = keyOf(id1!);
			const until = clock.now() + 60_000;
			await store.blocks.upsert({ ...KEY, blockedUntil: until });
			await store.blocks.upsert({ ...KEY, scope: "model:opus", blockedUntil: until });
			await store.blocks.upsert({ ...KEY, scope: "model:sonnet", blockedUntil: until });
			await store.blocks.upsert({ ...KEY, credentialId: id2!, blockedUntil: until });
			expect(await store.blocks.delete(id1!, "model:opus")).toBe(1);
			expect((await store.blocks.list({ credentialId: id1! })).map((block) => block.scope).sort()).toEqual([
				"",
				"model:sonnet",
			]);
			expect(await store.blocks.delete(id1!)).toBe(2);
			expect(await store.blocks.list({ credentialId: id1! })).toEqual([]);
			expect(await store.blocks.list({ credentialId: id2! })).toHaveLength(1);
			expect(await store.blocks.delete(id1!)).toBe(0);
		});

		twoInstances("two instances: a block set on one is honoured and max-merged on the other", async () => {
			const { a, b, clock } = await harness.openPair();
			const [id1] = await seedCredentials(a, 1);
			const KEY = keyOf(id1!);
			const until = clock.now() + 60_000;
			await a.blocks.upsert({ ...KEY, blockedUntil: until });
			expect((await b.blocks.list()).map((block) => block.blockedUntil)).toEqual([until]);
			const shorter = await b.blocks.upsert({ ...KEY, blockedUntil: until - 1_000 });
			expect(shorter.blockedUntil).toBe(until);
			expect((await a.blocks.list()).map((block) => block.blockedUntil)).toEqual([until]);
			expect(await b.blocks.delete(KEY.credentialId)).toBe(1);
			expect(await a.blocks.list()).toEqual([]);
		});
	});
}
