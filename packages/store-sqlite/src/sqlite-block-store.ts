/**
 * Durable temporary blocks keyed by (credential id, provider:type, scope). The upsert max-merges
 * in one statement, so two processes blocking the same row concurrently keep the later deadline.
 */
import type { BlockStore, CredentialBlock } from "@authpool/core";
import { checkStoreInput, storeInputSchemas as input } from "@authpool/core";
import type { SqliteContext } from "./sqlite-context";

interface BlockRecord {
	credential_id: number;
	provider_key: string;
	scope: string;
	blocked_until: number;
	updated_at: number;
}

const COLUMNS = "credential_id, provider_key, scope, blocked_until, updated_at";

const SQL = {
	// Max-merge in one statement: a write that would not lengthen the block changes nothing (no
	// revision bump either: nothing a reader sees changed).
	upsert:
		`INSERT INTO auth_credential_blocks (${COLUMNS}) VALUES (?, ?, ?, ?, ?) ` +
		"ON CONFLICT (credential_id, provider_key, scope) DO UPDATE SET " +
		"blocked_until = excluded.blocked_until, updated_at = excluded.updated_at " +
		"WHERE excluded.blocked_until > auth_credential_blocks.blocked_until",
	get: `SELECT ${COLUMNS} FROM auth_credential_blocks WHERE credential_id = ? AND provider_key = ? AND scope = ?`,
	list:
		`SELECT ${COLUMNS} FROM auth_credential_blocks WHERE blocked_until > @now ` +
		"AND (@credentialId IS NULL OR credential_id = @credentialId) AND (@providerKey IS NULL OR provider_key = @providerKey) " +
		"ORDER BY credential_id, provider_key, scope",
	deleteAll: "DELETE FROM auth_credential_blocks WHERE credential_id = ?",
	deleteScope: "DELETE FROM auth_credential_blocks WHERE credential_id = ? AND scope = ?",
} as const;

function toBlock(record: BlockRecord): CredentialBlock {
	return {
		credentialId: record.credential_id,
		providerKey: record.provider_key,
		scope: record.scope,
		blockedUntil: record.blocked_until,
		updatedAt: record.updated_at,
	};
}

export function createSqliteBlockStore(ctx: SqliteContext): BlockStore {
	return {
		async upsert(block) {
			ctx.assertOpen("blocks.upsert");
			const valid = checkStoreInput(input.block, block, "block");
			const key = [valid.credentialId, valid.providerKey, valid.scope] as const;
			return ctx.write("blocks.upsert", () => {
				ctx.statement(SQL.upsert).run(...key, valid.blockedUntil, ctx.now());
				return toBlock(ctx.statement(SQL.get).get(...key) as BlockRecord);
			});
		},
		async list(filter) {
			ctx.assertOpen("blocks.list");
			checkStoreInput(input.blockFilter, filter, "block filter");
			return ctx.read("blocks.list", () =>
				(
					ctx.statement(SQL.list).all({
						now: ctx.now(),
						credentialId: filter?.credentialId ?? null,
						providerKey: filter?.providerKey ?? null,
					}) as BlockRecord[]
				).map(toBlock),
			);
		},
		async delete(credentialId, scope) {
			ctx.assertOpen("blocks.delete");
			checkStoreInput(input.id, credentialId, "credential id");
			if (scope !== undefined) checkStoreInput(input.key, scope, "block scope");
			return ctx.write("blocks.delete", () =>
				scope === undefined
					? ctx.statement(SQL.deleteAll).run(credentialId).changes
					: ctx.statement(SQL.deleteScope).run(credentialId, scope).changes,
			);
		},
	};
}
