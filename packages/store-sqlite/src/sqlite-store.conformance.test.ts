import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeCredentialStore } from "@authpool/store-conformance";
import { createSqliteStore } from "./index";

// Each test gets a fresh file; the two-instance cases open two stores (two connections) on it.
describeCredentialStore("sqlite", {
	createShared: async () => mkdtemp(join(tmpdir(), "authpool-sqlite-conformance-")),
	create: async ({ clock, shared }) => createSqliteStore({ path: join(shared as string, "auth.db"), clock }),
	cleanup: async (shared) => rm(shared as string, { recursive: true, force: true }),
});
