/**
 * The broker wire view of the loaded rows (docs/broker-protocol.md): OAuth refresh tokens are replaced by the
 * `"__remote__"` sentinel, and each row carries its unexpired blocks.
 */
import type { CredentialBlocks } from "../selection/blocks";
import { type AuthCredential, REMOTE_REFRESH_SENTINEL, type StoredAuthCredential } from "../types";
import { credentialIdentityKey } from "./identity";

/** A block as it appears in a snapshot (broker wire shape). */
export interface SnapshotBlock {
	providerKey: string;
	blockScope: string;
	blockedUntilMs: number;
	updatedAtMs: number;
}

/** One row of `exportSnapshot`: OAuth refresh tokens are replaced by `REMOTE_REFRESH_SENTINEL`. */
export interface AuthCredentialSnapshotEntry {
	id: number;
	provider: string;
	credential: AuthCredential;
	identityKey: string | null;
	/** Unexpired blocks of the row. */
	blocks: SnapshotBlock[];
}

export interface AuthCredentialSnapshot {
	generation: number;
	generatedAt: number;
	credentials: AuthCredentialSnapshotEntry[];
}

/** The credential as it may leave a broker: refresh token replaced by the sentinel. */
export function redactCredential(credential: AuthCredential): AuthCredential {
	// Object.assign, not spread: snapshots are built per broker request, and spread is a slow path in Node 20.
	return credential.type === "oauth"
		? Object.assign({}, credential, { refresh: REMOTE_REFRESH_SENTINEL })
		: Object.assign({}, credential);
}

/** One row as a snapshot entry (blocks from the pool's mirror). */
export function snapshotEntry(row: StoredAuthCredential, blocks: CredentialBlocks): AuthCredentialSnapshotEntry {
	return {
		id: row.id,
		provider: row.provider,
		credential: redactCredential(row.credential),
		identityKey: row.identityKey ?? credentialIdentityKey(row.provider, row.credential),
		blocks: blocks.list(row.id).map((block) => ({
			providerKey: block.providerKey,
			blockScope: block.scope,
			blockedUntilMs: block.blockedUntil,
			updatedAtMs: block.updatedAt,
		})),
	};
}
