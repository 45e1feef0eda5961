/**
 * Encryption keys for {@link withEncryption}: parsed from `AUTHPOOL_ENCRYPTION_KEYS` or a key file.
 * Every key is exactly 32 bytes (AES-256); ids name keys inside sealed values, so they stay short and
 * free of the `:` separator.
 */
import { type FileHandle, open } from "node:fs/promises";
import { AuthpoolError } from "../../errors";

/** Key id → 32-byte key. Reads accept any of them; writes use the active one. */
export type EncryptionKeys = ReadonlyMap<string, Buffer>;

/** Key ids: letters, digits, `_`, `-`, `.` (no `:`, which separates parts of a sealed value). */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The `(id, key)` pairs of a key map or record, each id and key checked (messages name ids, never keys).
 * @throws AuthpoolError `INVALID_OPTIONS` when `keys` is not a map/record, an id is malformed or a key is not 32 bytes.
 */
export function checkedKeyEntries(keys: EncryptionKeys | Record<string, Buffer>): Array<[string, Buffer]> {
	if (typeof keys !== "object" || keys === null) {
		throw new AuthpoolError("INVALID_OPTIONS", "Invalid encryption options: keys must be a map of id to key");
	}
	const entries = keys instanceof Map ? [...keys] : Object.entries(keys);
	for (const [id, key] of entries) {
		if (!KEY_ID_PATTERN.test(id)) throw new AuthpoolError("INVALID_OPTIONS", "Invalid encryption key id");
		if (!Buffer.isBuffer(key) || key.length !== 32) {
			throw new AuthpoolError("INVALID_OPTIONS", `Encryption key "${id}" must be 32 bytes`);
		}
	}
	return entries;
}

/**
 * Parse `"id1:base64key,id2:base64key"` (the `AUTHPOOL_ENCRYPTION_KEYS` format; newlines also separate).
 * Base64 and base64url are both accepted. Messages name key ids, never key material.
 * @throws AuthpoolError `INVALID_OPTIONS` on a malformed entry, a duplicate id or a key that is not 32 bytes.
 */
export function parseEncryptionKeys(spec: string): Map<string, Buffer> {
	if (typeof spec !== "string") throw new AuthpoolError("INVALID_OPTIONS", "Encryption keys must be a string");
	const keys = new Map<string, Buffer>();
	const entries = spec
		.split(/[,\n]/)
		.map((entry) => entry.trim())
		.filter((entry) => entry !== "" && !entry.startsWith("#"));
	entries.forEach((entry, index) => {
		const colon = entry.indexOf(":");
		const id = colon < 0 ? "" : entry.slice(0, colon).trim();
		if (!KEY_ID_PATTERN.test(id)) {
			throw new AuthpoolError("INVALID_OPTIONS", `Encryption key entry ${index + 1}: expected "<id>:<base64 key>"`);
		}
		if (keys.has(id)) throw new AuthpoolError("INVALID_OPTIONS", `Encryption key id "${id}" is listed twice`);
		const encoded = entry.slice(colon + 1).trim();
		const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded) ? Buffer.from(encoded, "base64") : Buffer.alloc(0);
		if (key.length !== 32) {
			throw new AuthpoolError(
				"INVALID_OPTIONS",
				`Encryption key "${id}" must be 32 bytes of base64 (got ${key.length})`,
			);
		}
		keys.set(id, key);
	});
	if (keys.size === 0) throw new AuthpoolError("INVALID_OPTIONS", "No encryption keys given");
	return keys;
}

/**
 * Read keys (same format as {@link parseEncryptionKeys}) from a file only its owner can read.
 * @throws AuthpoolError `INVALID_OPTIONS` when the file is group/world accessible (mode & 0o077) or malformed;
 * `NOT_FOUND` when it cannot be read.
 */
export async function loadEncryptionKeyFile(path: string): Promise<Map<string, Buffer>> {
	let handle: FileHandle;
	try {
		handle = await open(path, "r");
	} catch (cause) {
		throw new AuthpoolError("NOT_FOUND", "Encryption key file cannot be read", { cause, details: { path } });
	}
	try {
		// Mode and content come from the same open file, so a swap between check and read cannot slip by.
		const { mode } = await handle.stat();
		if ((mode & 0o077) !== 0) {
			throw new AuthpoolError(
				"INVALID_OPTIONS",
				`Encryption key file is accessible by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
				{ details: { path } },
			);
		}
		return parseEncryptionKeys(await handle.readFile("utf8"));
	} finally {
		await handle.close();
	}
}
