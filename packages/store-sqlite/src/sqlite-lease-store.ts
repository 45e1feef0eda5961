/**
 * Refresh leases: one refresher per credential row across processes. Acquire is a single upsert that
 * only takes the row over when it is free, lapsed, already ours, or exactly the stale lease the caller
 * watched (`replace`); the owner string fences renew and release. Every acquire and renew writes a new
 * random `beat`, so a waiter can tell a live holder from a dead one without trusting
 * anyone's wall clock.
 */
import { randomInt } from "node:crypto";
import type { LeaseStore, RefreshLease } from "@authpool/core";
import { checkStoreInput, storeInputSchemas as input } from "@authpool/core";
import type { SqliteContext } from "./sqlite-context";

interface LeaseRecord {
	credential_id: number;
	owner: string;
	expires_at: number;
	ttl_ms: number;
	beat: number;
}

/** A fresh random heartbeat per write: never repeats in practice, even after a release and re-acquire. */
function nextBeat(): number {
	return randomInt(1, 2 ** 47);
}

const SQL = {
	acquire:
		"INSERT INTO auth_refresh_leases (credential_id, owner, expires_at, updated_at, ttl_ms, beat) " +
		"VALUES (@id, @owner, @expiresAt, @now, @ttlMs, @beat) " +
		"ON CONFLICT (credential_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, " +
		"updated_at = excluded.updated_at, ttl_ms = excluded.ttl_ms, beat = excluded.beat " +
		"WHERE auth_refresh_leases.owner = excluded.owner OR auth_refresh_leases.expires_at <= @now " +
		"OR (auth_refresh_leases.owner = @replaceOwner AND auth_refresh_leases.beat = @replaceBeat)",
	get: "SELECT credential_id, owner, expires_at, ttl_ms, beat FROM auth_refresh_leases WHERE credential_id = ?",
	renew:
		"UPDATE auth_refresh_leases SET expires_at = @expiresAt, updated_at = @now, ttl_ms = @ttlMs, beat = @beat " +
		"WHERE credential_id = @id AND owner = @owner",
	release: "DELETE FROM auth_refresh_leases WHERE credential_id = ? AND owner = ?",
} as const;

function toLease(record: LeaseRecord): RefreshLease {
	return {
		credentialId: record.credential_id,
		owner: record.owner,
		expiresAt: record.expires_at,
		ttlMs: record.ttl_ms,
		beat: record.beat,
	};
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
		async acquire(credentialId, owner, ttlMs, options) {
			const replace = options?.replace;
			validate("leases.acquire", credentialId, ownerCheck(owner), ttlCheck(ttlMs), () =>
				replace === undefined ? undefined : checkStoreInput(input.staleLease, replace, "stale lease"),
			);
			return ctx.write("leases.acquire", () => {
				const now = ctx.now();
				const { changes } = ctx.statement(SQL.acquire).run({
					id: credentialId,
					owner,
					expiresAt: now + ttlMs,
					now,
					ttlMs,
					beat: nextBeat(),
					replaceOwner: replace?.owner ?? null,
					replaceBeat: replace?.beat ?? null,
				});
				const current = ctx.statement(SQL.get).get(credentialId) as LeaseRecord;
				return { acquired: changes > 0, lease: toLease(current) };
			});
		},
		async renew(credentialId, owner, ttlMs) {
			validate("leases.renew", credentialId, ownerCheck(owner), ttlCheck(ttlMs));
			return ctx.write("leases.renew", () => {
				const now = ctx.now();
				return (
					ctx
						.statement(SQL.renew)
						.run({ id: credentialId, owner, expiresAt: now + ttlMs, now, ttlMs, beat: nextBeat() }).changes > 0
				);
			});
		},
		async release(credentialId, owner) {
			validate("leases.release", credentialId, ownerCheck(owner));
			return ctx.write("leases.release", () => ctx.statement(SQL.release).run(credentialId, owner).changes > 0);
		},
		async get(credentialId) {
			validate("leases.get", credentialId);
			return ctx.read("leases.get", () => {
				const record = ctx.statement(SQL.get).get(credentialId) as LeaseRecord | undefined;
				return record ? toLease(record) : null;
			});
		},
	};
}
