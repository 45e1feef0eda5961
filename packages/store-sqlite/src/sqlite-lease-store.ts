/**
 * Refresh leases: one refresher per credential row across processes. Acquire is a single upsert
 * that only takes the row over when it is free, expired, or already ours; the owner string is the
 * fence for renew and release.
 */
import type { LeaseStore, RefreshLease } from "@authpool/core";
import { checkStoreInput, storeInputSchemas as input } from "@authpool/core";
import type { SqliteContext } from "./sqlite-context";

interface LeaseRecord {
	credential_id: number;
	owner: string;
	expires_at: number;
}

const SQL = {
	acquire:
		"INSERT INTO auth_refresh_leases (credential_id, owner, expires_at, updated_at) VALUES (@id, @owner, @expiresAt, @now) " +
		"ON CONFLICT (credential_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, updated_at = excluded.updated_at " +
		"WHERE auth_refresh_leases.owner = excluded.owner OR auth_refresh_leases.expires_at <= @now",
	get: "SELECT credential_id, owner, expires_at FROM auth_refresh_leases WHERE credential_id = ?",
	renew:
		"UPDATE auth_refresh_leases SET expires_at = @expiresAt, updated_at = @now " +
		"WHERE credential_id = @id AND owner = @owner AND expires_at > @now",
	release: "DELETE FROM auth_refresh_leases WHERE credential_id = ? AND owner = ? AND expires_at > ?",
} as const;

function toLease(record: LeaseRecord): RefreshLease {
	return { credentialId: record.credential_id, owner: record.owner, expiresAt: record.expires_at };
}

export function createSqliteLeaseStore(ctx: SqliteContext): LeaseStore {
	const validate = (operation: string, credentialId: number, ...checks: Array<() => unknown>) => {
		ctx.assertOpen(operation);
		checkStoreInput(input.id, credentialId, "credential id");
		for (const run of checks) run();
	};
	const ownerCheck = (owner: string) => () => checkStoreInput(input.owner, owner, "lease owner");
	const ttlCheck = (ttlMs: number) => () => checkStoreInput(input.ttl, ttlMs, "lease ttl");
	return {
		async acquire(credentialId, owner, ttlMs) {
			validate("leases.acquire", credentialId, ownerCheck(owner), ttlCheck(ttlMs));
			return ctx.write("leases.acquire", () => {
				const now = ctx.now();
				const { changes } = ctx.statement(SQL.acquire).run({ id: credentialId, owner, expiresAt: now + ttlMs, now });
				const current = ctx.statement(SQL.get).get(credentialId) as LeaseRecord;
				return { acquired: changes > 0, lease: toLease(current) };
			});
		},
		async renew(credentialId, owner, ttlMs) {
			validate("leases.renew", credentialId, ownerCheck(owner), ttlCheck(ttlMs));
			return ctx.write("leases.renew", () => {
				const now = ctx.now();
				return ctx.statement(SQL.renew).run({ id: credentialId, owner, expiresAt: now + ttlMs, now }).changes > 0;
			});
		},
		async release(credentialId, owner) {
			validate("leases.release", credentialId, ownerCheck(owner));
			return ctx.write(
				"leases.release",
				() => ctx.statement(SQL.release).run(credentialId, owner, ctx.now()).changes > 0,
			);
		},
		async get(credentialId) {
			validate("leases.get", credentialId);
			return ctx.read("leases.get", () => {
				const record = ctx.statement(SQL.get).get(credentialId) as LeaseRecord | undefined;
				return record && record.expires_at > ctx.now() ? toLease(record) : null;
			});
		},
	};
}
