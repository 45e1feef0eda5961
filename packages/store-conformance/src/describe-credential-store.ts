import { describe } from "vitest";
import { describeAccountPolicies } from "./describe-account-policies";
import { describeBlocks } from "./describe-blocks";
import { describeCache } from "./describe-cache";
import { describeChangeFeed } from "./describe-change-feed";
import { describeConditionalInsert } from "./describe-conditional-insert";
import { describeDisable } from "./describe-disable";
import { describeIdentity } from "./describe-identity";
import { describeLeases } from "./describe-leases";
import { describeLifecycle } from "./describe-lifecycle";
import { describeRows } from "./describe-rows";
import { describeTombstoneRewrite } from "./describe-tombstone-rewrite";
import { describeClientUsage, describeUsageLedger } from "./describe-usage-ledger";
import type { StoreConformanceOptions } from "./options";

/**
 * The whole conformance suite for one store, as a vitest `describe` block. Capabilities the store
 * lacks are reported as skipped cases whose titles name the missing capability.
 *
 * @example
 * describeCredentialStore("memory", {
 *   createShared: async () => createMemoryStoreBackend(),
 *   create: async ({ clock, shared }) => createMemoryStore({ clock, backend: shared as MemoryStoreBackend }),
 * });
 */
export function describeCredentialStore(name: string, options: StoreConformanceOptions): void {
	describe(`credential store conformance: ${name}`, () => {
		describeRows(options);
		describeIdentity(options);
		describeConditionalInsert(options);
		describeDisable(options);
		describeTombstoneRewrite(options);
		describeCache(options);
		describeBlocks(options);
		describeLeases(options);
		describeChangeFeed(options);
		describeUsageLedger(options);
		describeClientUsage(options);
		describeLifecycle(options);
		describeAccountPolicies(options);
	});
}
