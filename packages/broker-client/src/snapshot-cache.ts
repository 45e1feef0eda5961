/**
 * Encrypted snapshot cache: one file, AES-256-GCM, key derived with HKDF-SHA256 from the token and bound
 * to the broker URL (as HKDF info and as GCM additional data), mode 0600, with a TTL. A wrong token or URL,
 * tampering, truncation, a schema mismatch or an expired file all read as "no cache".
 *
 * Not core's seal helpers: those seal single fields bound to a store row; this is a whole-file envelope.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { chmod, readFile, rename, writeFile } from "node:fs/promises";
import { type SnapshotResponse, snapshotResponseSchema } from "@authpool/broker-protocol";
import { z } from "zod";

const MAGIC = Buffer.from("APBSNAP1");
const IV_BYTES = 12;
const TAG_BYTES = 16;

const payloadSchema = z.strictObject({
	savedAt: z.number(),
	receivedAt: z.number(),
	snapshot: snapshotResponseSchema,
});
export type CachedSnapshot = z.infer<typeof payloadSchema>;

function keyFor(url: string, token: string): Buffer {
	return Buffer.from(hkdfSync("sha256", token, "authpool-broker-snapshot-cache", `url:${url}`, 32));
}

export async function writeSnapshotCache(
	path: string,
	url: string,
	token: string,
	value: { savedAt: number; receivedAt: number; snapshot: SnapshotResponse },
): Promise<void> {
	const iv = randomBytes(IV_BYTES);
	const cipher = createCipheriv("aes-256-gcm", keyFor(url, token), iv);
	cipher.setAAD(Buffer.from(url, "utf8"));
	const body = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()]);
	const file = Buffer.concat([MAGIC, iv, cipher.getAuthTag(), body]);
	const temp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
	await writeFile(temp, file, { mode: 0o600 });
	await chmod(temp, 0o600);
	await rename(temp, path);
}

/** The cached snapshot, or `null` (missing, foreign, tampered, invalid or older than `ttlMs`). */
export async function readSnapshotCache(
	path: string,
	url: string,
	token: string,
	ttlMs: number,
	now: number,
): Promise<CachedSnapshot | null> {
	let file: Buffer;
	try {
		file = await readFile(path);
	} catch {
		return null;
	}
	if (file.length < MAGIC.length + IV_BYTES + TAG_BYTES + 1 || !file.subarray(0, MAGIC.length).equals(MAGIC))
		return null;
	const iv = file.subarray(MAGIC.length, MAGIC.length + IV_BYTES);
	const tag = file.subarray(MAGIC.length + IV_BYTES, MAGIC.length + IV_BYTES + TAG_BYTES);
	const body = file.subarray(MAGIC.length + IV_BYTES + TAG_BYTES);
	let text: string;
	try {
		const decipher = createDecipheriv("aes-256-gcm", keyFor(url, token), iv);
		decipher.setAAD(Buffer.from(url, "utf8"));
		decipher.setAuthTag(tag);
		text = Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
	} catch {
		return null;
	}
	let parsed: z.ZodSafeParseResult<CachedSnapshot>;
	try {
		parsed = payloadSchema.safeParse(JSON.parse(text));
	} catch {
		return null;
	}
	if (!parsed.success) return null;
	if (now - parsed.data.savedAt > ttlMs || parsed.data.savedAt > now + 60_000) return null;
	return parsed.data;
}
