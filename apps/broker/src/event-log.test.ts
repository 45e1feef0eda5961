import { AuthStorage, createMemoryStore } from "@authpool/core";
import { afterEach, beforeEach, expect, it } from "vitest";
import { isLoopbackHost, parseBind } from "./bind-address";
import { createEventLog, type EventLog } from "./event-log";

let storage: AuthStorage;
let log: EventLog;
let now = 1_000;
beforeEach(async () => {
	storage = new AuthStorage(createMemoryStore(), { env: {} });
	await storage.reload();
	log = createEventLog(storage, { capacity: 3, now: () => now });
});
afterEach(async () => {
	log.close();
	await storage.close();
});

it("records additions, a removal without a disable event (on the next look), and a disable with its cause", async () => {
	await storage.set("zai", [
		{ type: "api_key", key: "test-key-1" },
		{ type: "api_key", key: "test-key-2" },
	]);
	log.observe();
	expect(log.recent().map((event) => event.kind)).toEqual(["added", "added"]);
	const [first, second] = storage.listStoredCredentials("zai");
	await storage.removeCredential("zai", first?.id ?? -1);
	// The generation change made the first look (which defers: a disable event may still follow); this is the next.
	log.observe();
	expect(log.recent().at(-1)).toMatchObject({
		kind: "removed",
		credentialId: first?.id,
		label: `API key #${first?.id}`,
	});
	now = 2_000;
	await storage.disableCredentialById(second?.id ?? -1, "test cause");
	log.observe();
	log.observe();
	const kinds = log.recent().map((event) => event.kind);
	// Capacity 3: the oldest event was dropped; the disable is not also reported as a removal.
	expect(kinds).toEqual(["added", "removed", "disabled"]);
	expect(log.recent().at(-1)).toMatchObject({ detail: "test cause", credentialId: second?.id });
	expect(log.recent().map((event) => event.seq)).toEqual([2, 3, 4]);
});

it("parses binds and knows loopback hosts", () => {
	expect(parseBind("127.0.0.1:8765")).toEqual({ host: "127.0.0.1", port: 8765 });
	expect(parseBind("[::1]:0")).toEqual({ host: "::1", port: 0 });
	expect(parseBind(":9000")).toEqual({ host: "127.0.0.1", port: 9000 });
	for (const bad of ["", "8765", "host:99999", "a:b", "[::1]"]) {
		expect(() => parseBind(bad), bad).toThrow(/bind must be/);
	}
	expect(["127.0.0.1", "127.1.2.3", "::1", "localhost"].map(isLoopbackHost)).toEqual([true, true, true, true]);
	expect(["0.0.0.0", "::", "10.0.0.1", "example.com", "127.0.0.1.example.com"].map(isLoopbackHost)).toEqual([
		false,
		false,
		false,
		false,
		false,
	]);
});
