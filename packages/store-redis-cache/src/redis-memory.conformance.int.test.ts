import { createMemoryStore, createMemoryStoreBackend, type MemoryStoreBackend } from "@authpool/core";
import { describeCredentialStore } from "@authpool/store-conformance";
import { dropPrefix, randomPrefix, testRedisUrl } from "@authpool/test-services";
import { withRedisCache } from "./index";

const url = testRedisUrl();

interface Shared {
	backend: MemoryStoreBackend;
	prefix: string;
}

// Two instances share one memory backend (the "database") and one Redis prefix.
describeCredentialStore("redis cache around memory", {
	createShared: async (): Promise<Shared> => ({ backend: createMemoryStoreBackend(), prefix: randomPrefix("conf") }),
	create: async ({ clock, shared }) => {
		const { backend, prefix } = shared as Shared;
		return withRedisCache(createMemoryStore({ clock, backend }), { url }, { prefix, clock });
	},
	cleanup: async (shared) => dropPrefix(url, (shared as Shared).prefix),
});
