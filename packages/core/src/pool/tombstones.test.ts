import { describe, expect, it } from "vitest";
import { AuthStorage, DEFAULT_TOMBSTONE_RETENTION_MS } from "../auth-storage";
import { fakeOAuthPlugin, manualClock, oauth } from "../auth-storage.test-utils";
import { createMemoryStore } from "../store/memory-store";
import type { CredentialDisabledEvent } from "./events";

const DAY = 86_400_000;

async function setup(retention?: number) {
	const clock = manualClock();
	const store = createMemoryStore({ clock });
	const events: CredentialDisabledEvent[] = [];
	const storage = new AuthStorage(store, {
		providers: [fakeOAuthPlugin("acme", clock), fakeOAuthPlugin("other", clock)],
		clock,
		env: {},
		onCredentialDisabled: (event) => {
			events.push(event);
		},
		...(retention !== undefined ? { tombstoneRetentionMs: retention } : {}),
	});
	await storage.reload();
	return { clock, store, storage, events };
}

describe("tombstones", () => {
	it("are kept for 30 days from the disable and pruned when read", async () => {
		const { clock, store, storage } = await setup();
		const [row] = await storage.upsertCredential("acme", oauth("a@x.io", clock.now()));
		clock.advance(DAY);
		await storage.disableCredentialById(row!.id, "invalid_grant");
		clock.advance(DEFAULT_TOMBSTONE_RETENTION_MS - 1);
		expect(await storage.listDisabledCredentials("acme")).toEqual([
			{
				credentialId: row!.id,
				provider: "acme",
				credentialType: "oauth",
				disabledCause: "invalid_grant",
				disabledAt: clock.now() - DEFAULT_TOMBSTONE_RETENTION_MS + 1,
				email: "a@x.io",
			},
		]);
		clock.advance(1);
		expect(await storage.listDisabledCredentials()).toEqual([]);
		expect(await store.rows.get(row!.id)).toBeNull();
	});

	it("an automatic disable survives a re-login of the same identity; expired ones go on re-login", async () => {
		const { clock, store, storage } = await setup(7 * DAY);
		const [first] = await storage.upsertCredential("acme", oauth("a@x.io", clock.now()));
		await storage.disableCredentialById(first!.id, "invalid_grant");
		const [again] = await storage.upsertCredential("acme", oauth("a@x.io", clock.now(), { access: "again" }));
		expect(again!.id).not.toBe(first!.id);
		expect((await storage.listDisabledCredentials("acme")).map((t) => t.credentialId)).toEqual([first!.id]);
		clock.advance(7 * DAY + 1);
		// No read in between: the re-login itself prunes what is past retention.
		await storage.disableCredentialById(again!.id, "invalid_grant");
		await storage.upsertCredential("acme", oauth("a@x.io", clock.now(), { access: "third" }));
		expect(await store.rows.get(first!.id)).toBeNull();
		expect(await store.rows.get(again!.id)).toMatchObject({ disabledCause: "invalid_grant" });
	});

	it("a lifecycle replacement is hard-deleted", async () => {
		const { clock, store, storage } = await setup();
		await storage.set("acme", [oauth("a@x.io", clock.now()), oauth("b@x.io", clock.now())]);
		const b = storage.listStoredCredentials("acme")[1]!;
		await storage.set("acme", [oauth("a@x.io", clock.now()), oauth("c@x.io", clock.now())]);
		expect(await store.rows.get(b.id)).toBeNull();
		expect(await storage.listDisabledCredentials("acme")).toEqual([]);
	});

	it("a deliberate removal supersedes earlier automatic tombstones of that identity only", async () => {
		const { clock, storage } = await setup();
		const [a1] = await storage.upsertCredential("acme", oauth("a@x.io", clock.now()));
		await storage.disableCredentialById(a1!.id, "invalid_grant");
		const [b1] = await storage.upsertCredential("acme", oauth("b@x.io", clock.now()));
		await storage.disableCredentialById(b1!.id, "invalid_grant");
		const entries = await storage.upsertCredential("acme", oauth("a@x.io", clock.now(), { access: "a2" }));
		const a2 = entries.find((entry) => entry.id !== a1!.id)!;
		expect(await storage.removeCredential("acme", a2.id)).toBe(true);
		expect((await storage.listDisabledCredentials("acme")).map((t) => [t.credentialId, t.disabledCause])).toEqual([
			[b1!.id, "invalid_grant"],
			[a2.id, "deleted by user"],
		]);
	});

	it("a whole-provider logout clears that provider's history alone", async () => {
		const { clock, storage } = await setup();
		const [a] = await storage.upsertCredential("acme", oauth("a@x.io", clock.now()));
		await storage.upsertCredential("acme", oauth("b@x.io", clock.now()));
		await storage.disableCredentialById(a!.id, "invalid_grant");
		const [o] = await storage.upsertCredential("other", oauth("o@x.io", clock.now()));
		await storage.disableCredentialById(o!.id, "invalid_grant");
		await storage.logout("acme");
		expect(storage.listStoredCredentials("acme")).toEqual([]);
		expect(await storage.listDisabledCredentials("acme")).toEqual([]);
		expect((await storage.listDisabledCredentials()).map((t) => t.credentialId)).toEqual([o!.id]);
	});

	it("disabled events carry the credential type, email, account id and organization where known", async () => {
		const { clock, storage, events } = await setup();
		const [row] = await storage.upsertCredential(
			"acme",
			oauth("a@x.io", clock.now(), { accountId: "acct-1", orgId: "org-1", orgName: "Example Org" }),
		);
		await storage.upsertCredential("other", { type: "api_key", key: "test-key-1" });
		const key = storage.listStoredCredentials("other")[0]!;
		await storage.disableCredentialById(row!.id, "invalid_grant");
		await storage.disableCredentialById(key.id, "revoked");
		expect(events).toEqual([
			{
				type: "credential_disabled",
				provider: "acme",
				credentialId: row!.id,
				disabledCause: "invalid_grant",
				credentialType: "oauth",
				email: "a@x.io",
				accountId: "acct-1",
				orgId: "org-1",
				orgName: "Example Org",
				at: clock.now(),
			},
			{
				type: "credential_disabled",
				provider: "other",
				credentialId: key.id,
				disabledCause: "revoked",
				credentialType: "api_key",
				at: clock.now(),
			},
		]);
		expect(JSON.stringify(events)).not.toMatch(/test-key|access-|refresh-/);
	});
});
