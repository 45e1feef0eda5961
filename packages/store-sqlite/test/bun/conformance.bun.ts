import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeCredentialStore } from "@authpool/store-conformance";
import { createSqliteStore } from "../../src/index";

describeCredentialStore("sqlite on bun", {
	createShared: async () => mkdtemp(join(tmpdir(), "authpool-sqlite-bun-conformance-")),
	create: async ({ clock, shared }) => createSqliteStore({ path: join(shared as string, "auth.db"), clock }),
	cleanup: async (shared) => rm(shared as string, { recursive: true, force: true }),
});
