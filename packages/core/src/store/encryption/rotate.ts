/**
 * Key rotation and plaintext migration for a store wrapped by `withEncryption`: one resumable pass
 * that re-seals every active row not fully under the active key (plaintext rows included).
 */
import { AuthpoolError } from "../../errors";
import type { StoredAuthCredential } from "../../types";
import type { EncryptedCredentialStore } from "./encrypted-store";

/** Options of {@link rotateEncryptionKeys}. */
export interface RotateEncryptionOptions {
	/** Rows re-sealed concurrently per batch (default 50). */
	batchSize?: number;
	/** Lost compare-and-set races tolerated per row before it is reported as failed (default 16). */
	maxAttempts?: number;
}

/** What a rotation pass did. Ids only, never data. */
export interface RotateEncryptionResult {
	/** Rows re-sealed under the active key by this pass. */
	resealed: number;
	/** Rows already under the active key (or re-sealed by a concurrent writer): skipped. */
	skipped: number;
	/** Rows that could not be opened (see `listUndecryptableRows`) or kept losing races: untouched. */
	failed: number[];
	/**
	 * Tombstones still under an old key or in plaintext because the store has no
	 * `rows.compareAndSetDisabled`: they stay as they are until purged (re-adding the identity purges
	 * them). Empty on the memory, SQLite and Postgres stores, which re-seal tombstones like active rows.
	 */
	disabledPending: number[];
}

/**
 * Re-seal every row not under the active key (tombstones too, where the store can rewrite them), in
 * batches, by compare-and-set: a concurrent refresh is never overwritten (the row is re-read and
 * retried; if the concurrent write already sealed it under the active key it is skipped). Idempotent
 * and resumable: run it again after a crash.
 * @throws AuthpoolError `INVALID_OPTIONS` on a bad batch size.
 */
export async function rotateEncryptionKeys(
	store: EncryptedCredentialStore,
	options: RotateEncryptionOptions = {},
): Promise<RotateEncryptionResult> {
	const batchSize = options.batchSize ?? 50;
	const maxAttempts = options.maxAttempts ?? 16;
	if (!Number.isSafeInteger(batchSize) || batchSize < 1 || !Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
		throw new AuthpoolError(
			"INVALID_OPTIONS",
			"Invalid rotation options: batchSize and maxAttempts must be positive integers",
		);
	}
	const { canResealDisabled, inner, needsReseal, open, reseal } = store.encryption;
	const result: RotateEncryptionResult = { resealed: 0, skipped: 0, failed: [], disabledPending: [] };

	const rotateRow = async (first: StoredAuthCredential): Promise<void> => {
		let raw: StoredAuthCredential | null = first;
		for (let attempt = 0; attempt < maxAttempts; attempt++) {
			if (!raw) return;
			if (raw.disabledCause !== null && !canResealDisabled) {
				if (needsReseal(raw)) result.disabledPending.push(raw.id);
				return;
			}
			if (!needsReseal(raw)) {
				result.skipped++;
				return;
			}
			let plain: StoredAuthCredential;
			try {
				plain = open(raw);
			} catch {
				result.failed.push(raw.id);
				return;
			}
			if (await reseal(raw, plain.credential)) {
				result.resealed++;
				return;
			}
			// Lost the race (or the row was disabled meanwhile): whatever the other writer stored is the
			// truth; re-read and judge it again.
			raw = await inner.rows.get(raw.id);
		}
		result.failed.push(first.id);
	};

	const rows = [...(await inner.rows.listActive()), ...(await inner.rows.listDisabled())].sort((a, b) => a.id - b.id);
	for (let start = 0; start < rows.length; start += batchSize) {
		await Promise.all(rows.slice(start, start + batchSize).map(rotateRow));
	}
	result.failed.sort((a, b) => a - b);
	result.disabledPending.sort((a, b) => a - b);
	return result;
}

/** Seal rows still in plaintext: the same pass as {@link rotateEncryptionKeys}. */
export const sealPlaintextRows = rotateEncryptionKeys;
