import { describeCredentialStore } from "@authpool/store-conformance";
import { createPostgresStore } from "@authpool/store-postgres";
import { dropPrefix, randomPrefix, recyclingSchemas, testPostgresUrl, testRedisUrl } from "@authpool/test-services";
import { afterAll } from "vitest";
import { withRedisCache } from "./index";

const url = testRedisUrl();
const connectionString = testPostgresUrl();
const schemas = recyclingSchemas("rconf");
afterAll(() => schemas.dropAll());

interface Shared {
	schema: string;
	prefix: string;
}

// Each test gets an empty Postgres schema (emptied after the test before it, see recyclingSchemas) and a
// fresh Redis prefix; the two-instance cases open two of each client.
describeCredentialStore("redis cache around postgres", {
	createShared: async (): Promise<Shared> => ({ schema: schemas.take(), prefix: randomPrefix("conf") }),
	create: async ({ clock, shared }) => {
		const { schema, prefix } = shared as Shared;
		return withRedisCache(
			await createPostgresStore({ connectionString }, { schema, clock }),
			{ url },
			{ prefix, clock },
		);
	},
	cleanup: async (shared) => {
		await schemas.recycle((shared as Shared).schema);
		await dropPrefix(url, (shared as Shared).prefix);
	},
});
