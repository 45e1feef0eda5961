import { describeCredentialStore } from "@authpool/store-conformance";
import { recyclingSchemas, testPostgresUrl } from "@authpool/test-services";
import { afterAll } from "vitest";
import { createPostgresStore } from "./index";

const connectionString = testPostgresUrl();
const schemas = recyclingSchemas("conf");
afterAll(() => schemas.dropAll());

// Each test gets an empty schema of its own (emptied after the test before it, not re-created: see
// recyclingSchemas); the two-instance cases open two stores (two pools) on it.
describeCredentialStore("postgres", {
	createShared: async () => schemas.take(),
	create: async ({ clock, shared }) => createPostgresStore({ connectionString }, { schema: shared as string, clock }),
	cleanup: async (shared) => schemas.recycle(shared as string),
});
