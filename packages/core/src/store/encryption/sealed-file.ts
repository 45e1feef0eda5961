/**
 * Sealed files: the sealing of credential rows (AES-256-GCM under a named key, HKDF-derived sub-key,
 * random 96-bit IV) for whole files authpool writes with secrets in them, such as the broker client's
 * snapshot cache. Reads accept any key of the ring, writes use the active one, so a file written before
 * a key rotation still opens and the next write moves it to the new key.
 *
 * Layout: `"APSEAL1\n"`, one byte of key-id length, the key id, IV, ciphertext, tag. The associated
 * data binds the format, the key id and a caller-chosen `context` (what the file is for and whose it
 * is, e.g. the broker URL), so a sealed file copied to another purpose does not open.
 *
 * Writes go to a temporary file (0600) in the same directory, are flushed, then renamed over the
 * target: a crash leaves the old file or the new one, never half of one.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { AuthpoolError } from "../../errors";
import { checkedKeyEntries, type EncryptionKeys, KEY_ID_PATTERN } from "./keys";

const MAGIC = Buffer.from("APSEAL1\n", "latin1");
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The keys a sealed file is written and read with. */
export interface SealedFileKeys {
	/** Key id → 32-byte key (see `parseEncryptionKeys`, `loadEncryptionKeyFile`). */
	keys: EncryptionKeys | Record<string, Buffer>;
	/** The key every write seals with. */
	activeKeyId: string;
}

/** Why a sealed file did not open (`readSealedFile` resolves `{ ok: false, reason }`; no data in it). */
export type SealedFileFailure = "missing" | "not-sealed" | "unknown-key" | "tampered";

function ringOf(options: SealedFileKeys): Map<string, Buffer> {
	if (typeof options !== "object" || options === null) {
		throw new AuthpoolError("INVALID_OPTIONS", "Invalid sealed-file keys: expected { keys, activeKeyId }");
	}
	const ring = new Map<string, Buffer>();
	for (const [id, key] of checkedKeyEntries(options.keys)) {
		ring.set(id, Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), "authpool sealed file v1", 32)));
	}
	if (!ring.has(options.activeKeyId)) {
		throw new AuthpoolError("INVALID_OPTIONS", "Invalid sealed-file keys: activeKeyId names no given key");
	}
	return ring;
}

function associatedData(keyId: string, context: string): Buffer {
	return Buffer.from(`authpool-file-v1\u0000${keyId}\u0000${context}`, "utf8");
}

/** Seal `plaintext` for `context` under the active key of `ring` (from {@link ringOf}). */
function sealBytes(plaintext: string | Buffer, context: string, ring: Map<string, Buffer>, keyId: string): Buffer {
	const iv = randomBytes(IV_BYTES);
	const cipher = createCipheriv("aes-256-gcm", ring.get(keyId)!, iv);
	cipher.setAAD(associatedData(keyId, context));
	const body = Buffer.concat([
		typeof plaintext === "string" ? cipher.update(plaintext, "utf8") : cipher.update(plaintext),
		cipher.final(),
	]);
	const id = Buffer.from(keyId, "latin1");
	return Buffer.concat([MAGIC, Buffer.of(id.length), id, iv, body, cipher.getAuthTag()]);
}

/** Open bytes from {@link sealBytes} with any key of `ring`. */
function openSealed(
	sealed: Buffer,
	context: string,
	ring: Map<string, Buffer>,
): { ok: true; plaintext: Buffer; keyId: string } | { ok: false; reason: Exclude<SealedFileFailure, "missing"> } {
	const header = MAGIC.length + 1;
	if (sealed.length < header || !sealed.subarray(0, MAGIC.length).equals(MAGIC)) {
		return { ok: false, reason: "not-sealed" };
	}
	const idLength = sealed[MAGIC.length]!;
	if (sealed.length < header + idLength + IV_BYTES + TAG_BYTES) return { ok: false, reason: "not-sealed" };
	const keyId = sealed.subarray(header, header + idLength).toString("latin1");
	const key = ring.get(keyId);
	if (!key) return { ok: false, reason: KEY_ID_PATTERN.test(keyId) ? "unknown-key" : "not-sealed" };
	const at = header + idLength;
	try {
		const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(at, at + IV_BYTES));
		decipher.setAAD(associatedData(keyId, context));
		decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
		const plaintext = Buffer.concat([
			decipher.update(sealed.subarray(at + IV_BYTES, sealed.length - TAG_BYTES)),
			decipher.final(),
		]);
		return { ok: true, plaintext, keyId };
	} catch {
		return { ok: false, reason: "tampered" };
	}
}

/**
 * Seal `plaintext` for `context` and replace `path` with it atomically (mode 0600).
 * @throws AuthpoolError `INVALID_OPTIONS` on bad keys; file system errors (full disk, no such directory) as they come.
 */
export async function writeSealedFile(
	path: string,
	plaintext: string | Buffer,
	context: string,
	options: SealedFileKeys,
): Promise<void> {
	const sealed = sealBytes(plaintext, context, ringOf(options), options.activeKeyId);
	const temp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
	try {
		const handle = await open(temp, "wx", 0o600);
		try {
			await handle.chmod(0o600); // exactly 0600 whatever the umask
			await handle.writeFile(sealed);
			await handle.sync();
		} finally {
			await handle.close();
		}
		await rename(temp, path);
	} catch (error) {
		await rm(temp, { force: true }).catch(() => {});
		throw error;
	}
}

/**
 * Read and open a file from {@link writeSealedFile}: `{ ok: false, reason }` when it is missing, not a
 * sealed file, under a key the ring does not hold, or fails to verify (tampered, truncated, another
 * context). Never returns unverified bytes.
 */
export async function readSealedFile(
	path: string,
	context: string,
	options: SealedFileKeys,
): Promise<{ ok: true; plaintext: Buffer; keyId: string } | { ok: false; reason: SealedFileFailure }> {
	const ring = ringOf(options);
	let sealed: Buffer;
	try {
		const handle = await open(path, "r");
		try {
			sealed = await handle.readFile();
		} finally {
			await handle.close();
		}
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === "ENOENT") return { ok: false, reason: "missing" };
		throw error;
	}
	return openSealed(sealed, context, ring);
}
