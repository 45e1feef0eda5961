import { createMemoryStore, createMemoryStoreBackend, type MemoryStoreBackend, withEncryption } from "@authpool/core";
import { describeCredentialStore } from "./index";

// Fixed, obviously fake test keys (all-0x11 and all-0x22 bytes).
const keys = new Map([
	["old", Buffer.alloc(32, 0x11)],
	["k1", Buffer.alloc(32, 0x22)],
]);

// The wrapper must be invisible to the contract: the same suite runs over it.
describeCredentialStore("encrypted memory", {
	createShared: async () => createMemoryStoreBackend(),
	create: async ({ clock, shared }) =>
		withEncryption(createMemoryStore({ clock, backend: shared as MemoryStoreBackend }), { keys, activeKeyId: "k1" }),
});
