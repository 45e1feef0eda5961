import { describe, expect, it } from "vitest";
import { manualClock } from "../auth-storage.test-utils";
import { createMemoryStore } from "../store/memory-store";
import { silentLogger } from "../types";
import { CredentialBlocks, MAX_BLOCK_MS } from "./blocks";

function setup() {
	const clock = manualClock();
	const store = createMemoryStore({ clock });
	const blocks = new CredentialBlocks({ store, clock, logger: silentLogger });
	return { clock, store, blocks };
}

describe("CredentialBlocks", () => {
	it("max-merges: a shorter block never shortens a longer one, in memory and in the store", async () => {
		const { clock, store, blocks } = setup();
		const now = clock.now();
		await blocks.block(1, "acme:oauth", now + 60_000);
		await blocks.block(1, "acme:oauth", now + 10_000);
		expect(blocks.blockedUntil(1, "acme:oauth")).toBe(now + 60_000);
		expect((await store.blocks.list())[0]!.blockedUntil).toBe(now + 60_000);
	});

	it("a wall clock stepped back an hour does not stretch a 60 s block: it lasts its duration at most", async () => {
		const { clock, store, blocks } = setup();
		await blocks.block(1, "acme:oauth", clock.now() + 60_000);
		clock.advance(-3_600_000);
		const until = blocks.blockedUntil(1, "acme:oauth");
		expect(until).toBe(clock.now() + 60_000);
		// A reload of the same stored block keeps the rebased deadline instead of stretching it again.
		clock.advance(30_000);
		blocks.replaceAll(await store.blocks.list());
		expect(blocks.blockedUntil(1, "acme:oauth")).toBe(until);
		clock.advance(30_001);
		expect(blocks.isBlocked(1, "acme:oauth")).toBe(false);
	});

	it("caps absurd deadlines", async () => {
		const { clock, blocks } = setup();
		await blocks.block(1, "acme:oauth", clock.now() + 365 * 24 * 3_600_000);
		expect(blocks.blockedUntil(1, "acme:oauth")).toBe(clock.now() + MAX_BLOCK_MS);
	});

	it("a scoped block applies to its scope only; a whole block applies to every scope", async () => {
		const { clock, blocks } = setup();
		await blocks.block(1, "acme:oauth", clock.now() + 60_000, { scope: "spark" });
		expect(blocks.isBlocked(1, "acme:oauth", "spark")).toBe(true);
		expect(blocks.isBlocked(1, "acme:oauth")).toBe(false);
		expect(blocks.isBlocked(1, "acme:oauth", "chat")).toBe(false);
		await blocks.block(2, "acme:oauth", clock.now() + 60_000);
		expect(blocks.isBlocked(2, "acme:oauth", "spark")).toBe(true);
	});

	it("blocks expire with the clock", async () => {
		const { clock, blocks } = setup();
		await blocks.block(1, "acme:oauth", clock.now() + 60_000);
		clock.advance(60_001);
		expect(blocks.isBlocked(1, "acme:oauth")).toBe(false);
		expect(blocks.list()).toEqual([]);
	});

	it("heal lifts usage blocks set before the report, never refresh-failure blocks", async () => {
		const { clock, store, blocks } = setup();
		await blocks.block(1, "acme:oauth", clock.now() + 3_600_000, { kind: "usage" });
		await blocks.block(2, "acme:oauth", clock.now() + 300_000, { kind: "refresh" });
		clock.advance(1000);
		expect(await blocks.heal(1, "acme:oauth", "", clock.now())).toBe(true);
		expect(await blocks.heal(2, "acme:oauth", "", clock.now())).toBe(false);
		expect(blocks.isBlocked(1, "acme:oauth")).toBe(false);
		expect(blocks.isBlocked(2, "acme:oauth")).toBe(true);
		expect((await store.blocks.list()).map((b) => b.credentialId)).toEqual([2]);
		// A report older than the block does not heal it.
		await blocks.block(3, "acme:oauth", clock.now() + 3_600_000, { kind: "usage" });
		expect(await blocks.heal(3, "acme:oauth", "", clock.now() - 1)).toBe(false);
	});

	it("never heals a block learned from a peer (it may be the peer's refresh back-off), but keeps local kinds", async () => {
		const { clock, store, blocks } = setup();
		await blocks.block(1, "acme:oauth", clock.now() + 3_600_000, { kind: "usage" });
		await store.blocks.upsert({
			credentialId: 2,
			providerKey: "acme:oauth",
			scope: "",
			blockedUntil: clock.now() + 300_000,
		});
		blocks.replaceAll(await store.blocks.list());
		clock.advance(1000);
		expect(await blocks.heal(2, "acme:oauth", "", clock.now())).toBe(false);
		expect(blocks.isBlocked(2, "acme:oauth")).toBe(true);
		expect(await blocks.heal(1, "acme:oauth", "", clock.now())).toBe(true);
	});

	it("replaceAll mirrors the store (a peer's block appears, a lifted one disappears)", async () => {
		const { clock, store, blocks } = setup();
		await blocks.block(1, "acme:oauth", clock.now() + 60_000);
		await store.blocks.delete(1);
		await store.blocks.upsert({
			credentialId: 2,
			providerKey: "acme:oauth",
			scope: "",
			blockedUntil: clock.now() + 5_000,
		});
		blocks.replaceAll(await store.blocks.list());
		expect(blocks.isBlocked(1, "acme:oauth")).toBe(false);
		expect(blocks.blockedUntil(2, "acme:oauth")).toBe(clock.now() + 5_000);
	});

	it("reports every change of the effective block set, and only changes", async () => {
		const clock = manualClock();
		const store = createMemoryStore({ clock });
		const reasons: string[] = [];
		const blocks = new CredentialBlocks({ store, clock, logger: silentLogger, onChange: (r) => reasons.push(r) });
		const now = clock.now();
		await blocks.block(1, "acme:api_key", now + 60_000, { kind: "usage" });
		await blocks.block(1, "acme:api_key", now + 10_000, { kind: "usage" });
		expect(reasons).toEqual(["block-set"]);
		expect(await blocks.heal(1, "acme:api_key", "", now + 1)).toBe(true);
		expect(reasons).toEqual(["block-set", "block-lifted"]);
		await blocks.block(2, "acme:api_key", now + 1_000);
		clock.advance(2_000);
		expect(blocks.isBlocked(2, "acme:api_key")).toBe(false);
		expect(blocks.isBlocked(2, "acme:api_key")).toBe(false);
		expect(reasons.slice(2)).toEqual(["block-set", "block-expired"]);
		// Learned from the store (a peer wrote it), then the same set again: one change only.
		const peer = { credentialId: 3, providerKey: "acme:api_key", scope: "", blockedUntil: clock.now() + 5_000 };
		blocks.replaceAll([{ ...peer, updatedAt: clock.now() }]);
		blocks.replaceAll([{ ...peer, updatedAt: clock.now() }]);
		expect(reasons.slice(4)).toEqual(["blocks-reloaded"]);
		await blocks.clear(3);
		expect(reasons.at(-1)).toBe("blocks-cleared");
		const throwing = new CredentialBlocks({
			store,
			clock,
			logger: silentLogger,
			onChange: () => {
				throw new Error("listener down");
			},
		});
		await expect(throwing.block(4, "acme:api_key", clock.now() + 1_000)).resolves.toBeGreaterThan(clock.now());
	});
});
