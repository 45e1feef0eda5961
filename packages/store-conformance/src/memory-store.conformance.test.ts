import { createMemoryStore, createMemoryStoreBackend, type MemoryStoreBackend } from "@authpool/core";
import { describeCredentialStore } from "./index";

describeCredentialStore("memory", {
	createShared: async () => createMemoryStoreBackend(),
	create: async ({ clock, shared }) => createMemoryStore({ clock, backend: shared as MemoryStoreBackend }),
});

// Without a shared backend the store is single-instance: the two-instance cases must show as skipped.
describeCredentialStore("memory (private backend)", {
	create: async ({ clock }) => createMemoryStore({ clock }),
});
