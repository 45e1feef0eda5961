import { describeCredentialStore } from "@authpool/store-conformance";
import { createPostgresStore } from "./index";
import { dropSchema, randomSchema, testPostgresUrl } from "./test-support";

const connectionString = testPostgresUrl();

// Each test gets its own schema; the two-instance cases open two stores (two pools) on it.
describeCredentialStore("postgres", {
	createShared: async () => randomSchema("conf"),
	create: async ({ clock, shared }) => createPostgresStore({ connectionString }, { schema: shared as string, clock }),
	cleanup: async (shared) => dropSchema(shared as string),
});
