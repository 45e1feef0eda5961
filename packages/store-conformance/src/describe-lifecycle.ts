import type { AuthCredential } from "@authpool/core";
import { describe, expect } from "vitest";
import { apiKey, oauthLogin } from "./fixtures";
import { expectAuthpoolError, itWhen, resolveCapabilities, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";

/** Closed stores reject; bad input is refused with INVALID_INPUT and stores nothing. */
export function describeLifecycle(options: StoreConformanceOptions): void {
	describe("lifecycle and input validation", async () => {
		const capabilities = await resolveCapabilities(options);
		const harness = useStoreHarness(options);
		const test = itWhen(capabilities);
		const withLeases = itWhen(capabilities, "leases");
		const withLedger = itWhen(capabilities, "usageLedger");

		test("after close, every part rejects with STORE_CLOSED", async () => {
			const { store, clock } = await harness.open();
			const row = await store.rows.insert("openai", apiKey("sk-one"));
			await store.close();
			await expectAuthpoolError(store.rows.listActive(), "STORE_CLOSED");
			await expectAuthpoolError(store.rows.get(row.id), "STORE_CLOSED");
			await expectAuthpoolError(store.rows.insert("openai", apiKey("sk-two")), "STORE_CLOSED");
			await expectAuthpoolError(store.rows.compareAndSet(row.id, 1, apiKey("sk-two")), "STORE_CLOSED");
			await expectAuthpoolError(store.cache.get("k"), "STORE_CLOSED");
			await expectAuthpoolError(store.cache.set("k", "v", clock.now() + 1_000), "STORE_CLOSED");
			await expectAuthpoolError(store.blocks.list(), "STORE_CLOSED");
		});

		withLeases("after close, leases reject with STORE_CLOSED", async () => {
			const { store } = await harness.open();
			const row = await store.rows.insert("openai", apiKey("sk-one"));
			await store.close();
			await expectAuthpoolError(store.leases!.acquire(row.id, "owner", 1_000), "STORE_CLOSED");
		});

		withLedger("after close, the ledger rejects with STORE_CLOSED", async () => {
			const { store } = await harness.open();
			await store.close();
			await expectAuthpoolError(store.ledger!.listUsageHistory(), "STORE_CLOSED");
		});

		test("malformed credentials are refused with INVALID_INPUT, never stored, never echoed", async () => {
			const { store } = await harness.open();
			const malformed: unknown[] = [
				null,
				"sk-string",
				{},
				{ type: "password", key: "SECRET-VALUE-1" },
				{ type: "api_key" },
				{ type: "api_key", key: "" },
				{ type: "api_key", key: 42 },
				{ type: "oauth", access: "SECRET-VALUE-2", refresh: "SECRET-VALUE-3" },
				{ type: "oauth", access: "SECRET-VALUE-2", refresh: 7, expires: 1 },
				{ type: "oauth", access: "SECRET-VALUE-2", refresh: "SECRET-VALUE-3", expires: "tomorrow" },
				{ type: "oauth", access: "SECRET-VALUE-2", refresh: "SECRET-VALUE-3", expires: Number.NaN },
			];
			for (const credential of malformed) {
				const error = await expectAuthpoolError(
					store.rows.insert("anthropic", credential as AuthCredential),
					"INVALID_INPUT",
				);
				expect(`${error.message} ${JSON.stringify(error.details ?? {})}`).not.toMatch(/SECRET-VALUE/);
			}
			const row = await store.rows.insert("anthropic", oauthLogin("a@example.com"));
			await expectAuthpoolError(store.rows.update(row.id, { type: "api_key" } as AuthCredential), "INVALID_INPUT");
			await expectAuthpoolError(
				store.rows.upsertByIdentity("anthropic", { type: "oauth" } as AuthCredential),
				"INVALID_INPUT",
			);
			await expectAuthpoolError(
				store.rows.replaceProvider("anthropic", [oauthLogin("b@example.com"), {} as AuthCredential]),
				"INVALID_INPUT",
			);
			expect(await store.rows.listActive()).toEqual([row]);
			expect(await store.rows.listDisabled()).toEqual([]);
		});

		test("an empty provider and non-integer ids are refused with INVALID_INPUT", async () => {
			const { store } = await harness.open();
			await expectAuthpoolError(store.rows.insert("", apiKey("sk-one")), "INVALID_INPUT");
			await expectAuthpoolError(store.rows.upsertByIdentity("", apiKey("sk-one")), "INVALID_INPUT");
			for (const id of [1.5, Number.NaN, Number.POSITIVE_INFINITY, "1" as unknown as number]) {
				await expectAuthpoolError(store.rows.get(id), "INVALID_INPUT");
				await expectAuthpoolError(store.rows.update(id, apiKey("sk-one")), "INVALID_INPUT");
				await expectAuthpoolError(store.rows.disable(id, "x"), "INVALID_INPUT");
			}
			expect(await store.rows.listActive()).toEqual([]);
		});
	});
}
