import { describe, expect, it } from "vitest";
import { AuthStorage } from "../auth-storage";
import { fakeOAuthPlugin, manualClock, oauth } from "../auth-storage.test-utils";
import { createMemoryStore } from "../store/memory-store";

describe("retry resolver", () => {
	it("resolve → force-refresh the same row → rotate to a sibling", async () => {
		const clock = manualClock();
		const plugin = fakeOAuthPlugin("acme", clock);
		const store = createMemoryStore({ clock });
		const a = await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		const b = await store.rows.insert("acme", oauth("b@x.io", clock.now()));
		const storage = new AuthStorage(store, { providers: [plugin], clock, env: {} });
		await storage.reload();
		const resolve = storage.resolver("acme", { sessionId: "s" });

		const first = (await resolve())!;
		const firstRow = first.startsWith("access-a@x.io") ? a : b;
		const sibling = firstRow === a ? b : a;
		expect(plugin.refreshCalls).toBe(0);

		const unauthorized = Object.assign(new Error("401 Unauthorized"), { status: 401 });
		const second = (await resolve({ error: unauthorized, lastChance: false }))!;
		expect(plugin.refreshCalls).toBe(1);
		expect(second).not.toBe(first);
		expect(second.startsWith(first.replace(/-0$/, ""))).toBe(true); // same account, new token
		expect((await store.rows.get(firstRow.id))!.credential).toMatchObject({ access: second });

		const third = (await resolve({ error: unauthorized, lastChance: true }))!;
		expect(third).toBe((sibling.credential as { access: string }).access);
		// The suspect row is blocked for a while and the session now sticks to the sibling.
		expect(await resolve()).toBe(third);
		expect((await store.blocks.list()).map((block) => block.credentialId)).toEqual([firstRow.id]);
	});

	it("a usage-limit error on the last chance blocks via markUsageLimitReached and keeps the row", async () => {
		const clock = manualClock();
		const plugin = fakeOAuthPlugin("acme", clock);
		const store = createMemoryStore({ clock });
		await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await store.rows.insert("acme", oauth("b@x.io", clock.now()));
		const storage = new AuthStorage(store, { providers: [plugin], clock, env: {} });
		await storage.reload();
		const resolve = storage.resolver("acme", { sessionId: "s" });
		const first = await resolve();
		const limited = Object.assign(new Error("429 usage_limit_reached"), { status: 429 });
		const next = await resolve({ error: limited, lastChance: true });
		expect(next).not.toBe(first);
		expect(await store.rows.listDisabled()).toEqual([]);
		const [block] = await store.blocks.list();
		expect(block!.blockedUntil).toBe(clock.now() + 60_000);
	});

	it("a usage limit rotates at once (no pointless re-mint), naming the row whose key failed even without a session", async () => {
		const clock = manualClock();
		const plugin = fakeOAuthPlugin("acme", clock);
		const store = createMemoryStore({ clock });
		for (const email of ["a@x.io", "b@x.io", "c@x.io"]) await store.rows.insert("acme", oauth(email, clock.now()));
		const storage = new AuthStorage(store, { providers: [plugin], clock, env: {} });
		await storage.reload();
		const resolve = storage.resolver("acme");
		const first = (await resolve())!;
		// Other sessionless traffic moves "the row handed out last" elsewhere meanwhile.
		await storage.getApiKey("acme");
		const limited = Object.assign(new Error("429 usage limit reached"), { status: 429 });
		const next = await resolve({ error: limited, lastChance: false });
		expect(plugin.refreshCalls).toBe(0);
		expect(next).not.toBe(first);
		const blocked = await store.blocks.list();
		expect(blocked).toHaveLength(1);
		const failedRow = (await store.rows.listActive("acme")).find(
			(row) => row.credential.type === "oauth" && row.credential.access === first,
		);
		expect(blocked[0]!.credentialId).toBe(failedRow!.id);
	});
});
