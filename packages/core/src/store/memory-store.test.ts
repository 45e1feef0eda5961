import { describe, expect, it } from "vitest";
import { AuthpoolError } from "../errors";
import type { OAuthCredential } from "../types";
import { createMemoryStore, createMemoryStoreBackend } from "./memory-store";
import { REPLACED_BY_NEWER } from "./store";

function testClock(start = 1_000_000) {
	let now = start;
	return {
		now: () => now,
		advance(ms: number) {
			now += ms;
		},
	};
}

function oauth(email: string, access = "access-1", extra: Record<string, unknown> = {}): OAuthCredential {
	return { type: "oauth", access, refresh: `refresh-${access}`, expires: 5_000_000, email, ...extra };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<AuthpoolError> {
	const error = await promise.then(
		() => undefined,
		(caught: unknown) => caught,
	);
	expect(AuthpoolError.isInstance(error)).toBe(true);
	expect((error as AuthpoolError).code).toBe(code);
	return error as AuthpoolError;
}

describe("createMemoryStore", () => {
	it("rejects bad options with INVALID_OPTIONS naming the field", () => {
		expect(() => createMemoryStore({ clock: {} as never })).toThrow(/clock/);
		try {
			createMemoryStore({ backend: {} as never });
			expect.unreachable();
		} catch (error) {
			expect(AuthpoolError.isInstance(error) && error.code).toBe("INVALID_OPTIONS");
		}
	});

	it("declares every capability and is not shared unless given a backend", () => {
		expect(createMemoryStore().capabilities).toEqual({
			sharedAcrossInstances: false,
			leases: true,
			usageLedger: true,
			pushChanges: true,
		});
		expect(createMemoryStore({ backend: createMemoryStoreBackend() }).capabilities.sharedAcrossInstances).toBe(true);
		expect(createMemoryStore().kind).toBe("memory");
	});

	it("stamps rows with ids from 1, version 1, identity key and clock times", async () => {
		const clock = testClock(42_000);
		const store = createMemoryStore({ clock });
		const first = await store.rows.insert("anthropic", oauth("A@Example.com"));
		clock.advance(10);
		const second = await store.rows.insert("openai", { type: "api_key", key: "sk-1" });
		expect(first).toMatchObject({
			id: 1,
			version: 1,
			identityKey: "email:a@example.com",
			createdAt: 42_000,
			updatedAt: 42_000,
			disabledAt: null,
			disabledCause: null,
		});
		expect(second.id).toBe(2);
		expect(second.identityKey).toMatch(/^key:/);
		clock.advance(5);
		const updated = await store.rows.update(1, oauth("a@example.com", "access-2"));
		expect(updated).toMatchObject({ id: 1, version: 2, createdAt: 42_000, updatedAt: 42_015 });
	});

	it("hands out copies: mutating a returned row or the input does not change stored state", async () => {
		const store = createMemoryStore();
		const input = oauth("a@example.com", "access-1", { nested: { tier: "max" } });
		const row = await store.rows.insert("anthropic", input);
		(row.credential as OAuthCredential).access = "tampered";
		(input.nested as { tier: string }).tier = "tampered";
		const [listed] = await store.rows.listActive();
		(listed!.credential as OAuthCredential).refresh = "tampered";
		const stored = await store.rows.get(row.id);
		expect(stored?.credential).toMatchObject({
			access: "access-1",
			refresh: "refresh-access-1",
			nested: { tier: "max" },
		});
	});

	it("replaceProvider keeps matching ids, disables the rest and inserts new identities", async () => {
		const store = createMemoryStore();
		const a = await store.rows.insert("anthropic", oauth("a@example.com"));
		const b = await store.rows.insert("anthropic", oauth("b@example.com"));
		const other = await store.rows.insert("openai", { type: "api_key", key: "sk-other" });
		const active = await store.rows.replaceProvider("anthropic", [
			oauth("a@example.com", "access-new"),
			oauth("c@example.com"),
		]);
		expect(active.map((row) => row.id)).toEqual([a.id, 4]);
		expect(active[0]).toMatchObject({ version: 2, credential: { access: "access-new" } });
		const disabled = await store.rows.listDisabled("anthropic");
		expect(disabled).toEqual([expect.objectContaining({ id: b.id, disabledCause: REPLACED_BY_NEWER })]);
		expect(await store.rows.get(other.id)).toMatchObject({ disabledCause: null });
	});

	it("replaceProvider is all or nothing when one credential is malformed", async () => {
		const store = createMemoryStore();
		await store.rows.insert("anthropic", oauth("a@example.com"));
		const before = store.changes.revision();
		await expectCode(
			store.rows.replaceProvider("anthropic", [oauth("b@example.com"), { type: "oauth" } as never]),
			"INVALID_INPUT",
		);
		expect((await store.rows.listActive()).map((row) => row.credential)).toEqual([oauth("a@example.com")]);
		expect(store.changes.revision()).toBe(before);
	});

	it("never puts a secret of a malformed credential into the error", async () => {
		const store = createMemoryStore();
		const error = await expectCode(
			store.rows.insert("anthropic", { type: "oauth", access: "SECRET-ACCESS", refresh: 7 } as never),
			"INVALID_INPUT",
		);
		expect(error.message).not.toContain("SECRET-ACCESS");
		expect(JSON.stringify(error.details)).not.toContain("SECRET-ACCESS");
		await expectCode(store.rows.insert("openai", { type: "api_key", key: "" }), "INVALID_INPUT");
		await expectCode(
			store.rows.insert("openai", { type: "oauth", access: "a", refresh: "r", expires: Number.NaN }),
			"INVALID_INPUT",
		);
		await expectCode(store.rows.insert("  ", { type: "api_key", key: "k" }), "INVALID_INPUT");
		await expectCode(store.rows.get(1.5), "INVALID_INPUT");
		expect(await store.rows.listActive()).toEqual([]);
	});

	it("two instances on one backend share rows, revision and push notifications", async () => {
		const backend = createMemoryStoreBackend();
		const a = createMemoryStore({ backend });
		const b = createMemoryStore({ backend });
		let pushed = 0;
		const unsubscribe = b.changes.subscribe!(() => pushed++);
		const before = b.changes.revision();
		const row = await a.rows.insert("anthropic", oauth("a@example.com"));
		expect(b.changes.revision()).not.toBe(before);
		expect(pushed).toBe(1);
		expect(await b.rows.get(row.id)).toEqual(row);
		unsubscribe();
		await a.rows.disable(row.id, "gone");
		expect(pushed).toBe(1);
	});

	it("a throwing listener neither fails the write nor starves other listeners", async () => {
		const store = createMemoryStore();
		let calls = 0;
		store.changes.subscribe!(() => {
			throw new Error("listener bug");
		});
		store.changes.subscribe!(() => calls++);
		await expect(store.rows.insert("openai", { type: "api_key", key: "k" })).resolves.toMatchObject({ id: 1 });
		expect(calls).toBe(1);
	});

	it("cache writes do not change the revision; block writes do, but a shorter block write does not", async () => {
		const clock = testClock();
		const store = createMemoryStore({ clock });
		const r0 = store.changes.revision();
		await store.cache.set("k", "v", clock.now() + 1000);
		expect(store.changes.revision()).toBe(r0);
		await store.blocks.upsert({
			credentialId: 1,
			providerKey: "anthropic:oauth",
			scope: "",
			blockedUntil: clock.now() + 500,
		});
		const r1 = store.changes.revision();
		expect(r1).not.toBe(r0);
		await store.blocks.upsert({
			credentialId: 1,
			providerKey: "anthropic:oauth",
			scope: "",
			blockedUntil: clock.now() + 100,
		});
		expect(store.changes.revision()).toBe(r1);
	});

	it("close() rejects later calls with STORE_CLOSED on this instance only and drops its listeners", async () => {
		const backend = createMemoryStoreBackend();
		const a = createMemoryStore({ backend });
		const b = createMemoryStore({ backend });
		let pushed = 0;
		a.changes.subscribe!(() => pushed++);
		await a.close();
		await a.close();
		await expectCode(a.rows.listActive(), "STORE_CLOSED");
		await expectCode(a.cache.get("k"), "STORE_CLOSED");
		expect(() => a.changes.revision()).toThrow(/closed/);
		await b.rows.insert("openai", { type: "api_key", key: "k" });
		expect(pushed).toBe(0);
		expect(await b.rows.listActive()).toHaveLength(1);
	});
});

describe("memory store: credentials snapshotted once", () => {
	it("ignores toJSON: what is validated is what is stored, on every write path", async () => {
		const store = createMemoryStore({ clock: testClock() });
		const hostile = (key: string) => ({
			type: "api_key",
			key,
			toJSON: () => ({ type: "api_key", key: "test-key-swapped" }),
		});
		const inserted = await store.rows.insert("acme", hostile("test-key-1") as never);
		expect(inserted.credential).toEqual({ type: "api_key", key: "test-key-1" });
		await store.rows.replaceProvider("other", [hostile("test-key-2")] as never);
		const dropsRefresh = {
			type: "oauth",
			access: "test-access-1",
			refresh: "test-refresh-1",
			expires: 5,
			email: "a@x.io",
			toJSON: () => ({ type: "oauth", access: "test-access-1", expires: 5 }),
		};
		await store.rows.upsertByIdentity("acme", dropsRefresh as never);
		expect((await store.rows.listActive()).map((row) => row.credential)).toEqual([
			{ type: "api_key", key: "test-key-1" },
			{ type: "api_key", key: "test-key-2" },
			{ type: "oauth", access: "test-access-1", refresh: "test-refresh-1", expires: 5, email: "a@x.io" },
		]);
	});

	it("a toJSON cannot make an invalid credential pass validation", async () => {
		const store = createMemoryStore({ clock: testClock() });
		const invalid = { type: "api_key", toJSON: () => ({ type: "api_key", key: "test-key-1" }) };
		await expect(store.rows.insert("acme", invalid as never)).rejects.toMatchObject({ code: "INVALID_INPUT" });
		const cyclic: Record<string, unknown> = { type: "api_key", key: "test-key-1" };
		cyclic.self = cyclic;
		await expect(store.rows.insert("acme", cyclic as never)).rejects.toMatchObject({ code: "INVALID_INPUT" });
		expect(await store.rows.listActive()).toEqual([]);
	});

	it("keeps session pins bounded: beyond maxSessionPins the oldest pin is evicted, other keys never", async () => {
		const store = createMemoryStore({ maxSessionPins: 100 });
		await store.cache.set("usage:acme:1", "report", Date.now() + 60_000);
		for (let i = 0; i < 10_000; i += 1) await store.cache.set(`session:acme:s-${i}`, "{}", Date.now() + 60_000);
		expect(await store.cache.get("session:acme:s-9999")).toBe("{}");
		expect(await store.cache.get("session:acme:s-9900")).toBe("{}");
		expect(await store.cache.get("session:acme:s-9899")).toBeNull();
		expect(await store.cache.get("usage:acme:1")).toBe("report");
		// Re-writing a pin makes it the newest.
		await store.cache.set("session:acme:s-9900", "{}", Date.now() + 60_000);
		await store.cache.setMany!([{ key: "session:acme:new", value: "{}", expiresAt: Date.now() + 60_000 }]);
		expect(await store.cache.get("session:acme:s-9900")).toBe("{}");
		expect(await store.cache.get("session:acme:s-9901")).toBeNull();
	});
});
