/**
 * The snapshot cache file: one file sealed with core's sealed-file format (AES-256-GCM, written
 * atomically, mode 0600) with a TTL. By default the key is derived with HKDF-SHA256 from the token,
 * bound to the broker URL; given the operator's encryption keys (`cacheKeys`), the file is sealed under
 * the active one instead and opens with any of them, like credential rows. The URL and the token
 * are the sealed context either way. A wrong token, key or URL, tampering, truncation, a schema mismatch or an
 * expired file all read as "no cache" (with the reason, never the data, for the log).
 */
import { createHash, hkdfSync } from "node:crypto";
import { type SnapshotResponse, snapshotResponseSchema } from "@authpool/broker-protocol";
import { AuthpoolError, readSealedFile, type SealedFileKeys, writeSealedFile } from "@authpool/core";
import { z } from "zod";

const payloadSchema = z.strictObject({
	savedAt: z.number(),
	receivedAt: z.number(),
	snapshot: snapshotResponseSchema,
});
export type CachedSnapshot = z.infer<typeof payloadSchema>;

/** Where the cache is and what seals it. */
export interface SnapshotCacheTarget {
	path: string;
	url: string;
	token: string;
	/** The operator's keys; without them a key derived from the token and URL. */
	keys?: SealedFileKeys;
}

const TOKEN_KEY_ID = "token";

function keysOf(target: SnapshotCacheTarget): SealedFileKeys {
	if (target.keys) return target.keys;
	const key = Buffer.from(hkdfSync("sha256", target.token, "authpool-broker-snapshot-cache", `url:${target.url}`, 32));
	return { keys: new Map([[TOKEN_KEY_ID, key]]), activeKeyId: TOKEN_KEY_ID };
}

/** The URL and (a hash of) the token: a cache sealed under shared keys still opens only for the same client. */
const contextOf = (target: SnapshotCacheTarget) =>
	`broker-snapshot-cache\u0000${target.url}\u0000${createHash("sha256").update(target.token, "utf8").digest("hex")}`;

export async function writeSnapshotCache(
	target: SnapshotCacheTarget,
	value: { savedAt: number; receivedAt: number; snapshot: SnapshotResponse },
): Promise<void> {
	await writeSealedFile(target.path, JSON.stringify(value), contextOf(target), keysOf(target));
}

/** The cached snapshot, or why there is none (missing, foreign, tampered, invalid or older than `ttlMs`). */
export async function readSnapshotCache(
	target: SnapshotCacheTarget,
	ttlMs: number,
	now: number,
): Promise<{ ok: true; cached: CachedSnapshot } | { ok: false; reason: string }> {
	let read: Awaited<ReturnType<typeof readSealedFile>>;
	try {
		read = await readSealedFile(target.path, contextOf(target), keysOf(target));
	} catch (error) {
		if (AuthpoolError.isInstance(error)) throw error; // bad keys: the caller's mistake, not a missing cache
		return { ok: false, reason: `unreadable (${(error as NodeJS.ErrnoException).code ?? "error"})` };
	}
	if (!read.ok) return { ok: false, reason: read.reason };
	let parsed: z.ZodSafeParseResult<CachedSnapshot>;
	try {
		parsed = payloadSchema.safeParse(JSON.parse(read.plaintext.toString("utf8")));
	} catch {
		return { ok: false, reason: "not JSON" };
	}
	if (!parsed.success) return { ok: false, reason: "not a snapshot" };
	if (now - parsed.data.savedAt > ttlMs || parsed.data.savedAt > now + 60_000) return { ok: false, reason: "expired" };
	return { ok: true, cached: parsed.data };
}
