import { snapshotResponseSchema } from "@authpool/broker-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIENT, METRICS, startWorld, type World } from "./support";

let world: World;
beforeAll(async () => {
	world = await startWorld({ refresher: { intervalMs: 150, skewMs: 120_000 } });
});
afterAll(async () => {
	const tokens = world.refreshTokens();
	await world.close();
	const everything = world.received.join("\n");
	for (const token of tokens) expect(everything.includes(token)).toBe(false);
});

describe("background refresher", () => {
	it("refreshes rows expiring within the skew, leaves the others, and projects rotatesInMs", async () => {
		const soon = world.fake.addAccount("anthropic", { email: "soon@example.com" });
		const later = world.fake.addAccount("anthropic", { email: "later@example.com" });
		const upsert = (credential: unknown) =>
			world.call("/v1/credential", { method: "POST", body: JSON.stringify({ provider: "anthropic", credential }) });
		await upsert({ ...soon.credential, expires: Date.now() + 60_000 });
		await upsert({ ...later.credential, expires: Date.now() + 3_600_000 });

		const snap = snapshotResponseSchema.parse((await world.call("/v1/snapshot", { token: CLIENT })).json());
		expect(snap.refresher).toMatchObject({ enabled: true, intervalMs: 150, skewMs: 120_000 });
		const byEmail = (email: string) =>
			snap.credentials.find((c) => c.credential.type === "oauth" && c.credential.email === email)!;
		// ("soon" is due now: 0, unless the sweep already rotated it; the projection itself is unit-tested.)
		const laterEta = byEmail("later@example.com").rotatesInMs!;
		// Due at expires − skew (≈ 58 min), rounded up to a sweep.
		expect(laterEta).toBeGreaterThan(3_600_000 - 120_000 - 5_000);
		expect(laterEta).toBeLessThan(3_600_000 - 120_000 + 5_000);

		const deadline = Date.now() + 5_000;
		while (world.fake.refreshCount(soon.id) === 0 && Date.now() < deadline) {
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
		expect(world.fake.refreshCount(soon.id)).toBe(1);
		// Give a few more sweeps: a fresh row is not refreshed again, the far one not at all.
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect(world.fake.refreshCount(soon.id)).toBe(1);
		expect(world.fake.refreshCount(later.id)).toBe(0);
		const metrics = await world.call("/metrics", { token: METRICS });
		expect(metrics.text).toMatch(
			/authpool_broker_refreshes_total\{provider="anthropic",trigger="background",outcome="ok"\} 1/,
		);
	});
});
