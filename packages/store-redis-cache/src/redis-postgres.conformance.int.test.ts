import { describeCredentialStore } from "@authpool/store-conformance";
import { createPostgresStore } from "@authpool/store-postgres";
import { dropSchema, randomSchema, testPostgresUrl } from "../test/postgres";
import { withRedisCache } from "./index";
import { dropPrefix, randomPrefix, testRedisUrl } from "./test-support";

const url = testRedisUrl();
const connectionString = testPostgresUrl();

interface Shared {
	schema: string;
	prefix: string;
}

// Each test gets its own Postgres schema and Redis prefix; the two-instance cases open two of each client.
describeCredentialStore("redis cache around postgres", {
	createShared: async (): Promise<Shared> => ({ schema: randomSchema("rconf"), prefix: randomPrefix("conf") }),
	create: async ({ clock, shared }) => {
		const { schema, prefix } = shared as Shared;
		return withRedisCache(
			await createPostgresStore({ connectionString }, { schema, clock }),
			{ url },
			{ prefix, clock },
		);
	},
	cleanup: async (shared) => {
		await dropSchema((shared as Shared).schema);
		await dropPrefix(url, (shared as Shared).prefix);
	},
});
