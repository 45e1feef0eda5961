/**
 * The sealed-value format and its AES-256-GCM primitives.
 *
 * A sealed value is `"enc:v1:<keyId>:<base64url(iv | ciphertext | tag)>"` with a random 96-bit IV and
 * a 128-bit tag. The associated data names the field, the provider and where the value was written
 * (see {@link sealBinding}), so it only opens in the row, field and version it was sealed for.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";

/** Prefix of every sealed value; anything else is read as plaintext (mixed state during migration). */
export const SEALED_PREFIX = "enc:v1:";

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Keys derived from one master key: one for sealing, one for identity HMACs (never the same bytes). */
export interface DerivedKey {
	id: string;
	seal: Buffer;
	identity: Buffer;
}

/** HKDF-SHA256 sub-keys of a 32-byte master key. */
export function deriveKey(id: string, master: Buffer): DerivedKey {
	const derive = (info: string) => Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), info, 32));
	return { id, seal: derive("authpool seal v1"), identity: derive("authpool identity v1") };
}

/**
 * Where a value was written. A row's first version (insert, or the insert leg of an upsert/replace)
 * has no id yet, so it binds provider + identity HMAC + version 1; every later version binds row id +
 * version, which the writer knows because it writes by compare-and-set (`expectedVersion + 1`).
 */
export type SealBinding =
	| { kind: "new"; provider: string; identityKey: string | null }
	| { kind: "row"; provider: string; id: number; version: number };

/**
 * The binding a stored row's values must open under. Disabling bumps the version once without
 * rewriting the data, so a tombstone's values were written at the version before.
 */
export function bindingOfRow(row: {
	id: number;
	provider: string;
	version: number;
	identityKey: string | null;
	disabledCause: string | null;
}): SealBinding {
	const written = row.disabledCause === null ? row.version : row.version - 1;
	return written === 1
		? { kind: "new", provider: row.provider, identityKey: row.identityKey }
		: { kind: "row", provider: row.provider, id: row.id, version: written };
}

/** The binding as one string: the associated data of a field is this plus the field name. */
export function bindingSignature(binding: SealBinding): string {
	const where =
		binding.kind === "new"
			? `new\u0000${binding.identityKey ?? "-"}\u0000v1`
			: `row\u0000${binding.id}\u0000v${binding.version}`;
	return `authpool-enc-v1\u0000${binding.provider}\u0000${where}`;
}

function associatedData(binding: SealBinding, field: string): Buffer {
	return Buffer.from(`${bindingSignature(binding)}\u0000${field}`, "utf8");
}

/** Seal one string field. */
export function sealValue(key: DerivedKey, binding: SealBinding, field: string, plaintext: string): string {
	const iv = randomBytes(IV_BYTES);
	const cipher = createCipheriv("aes-256-gcm", key.seal, iv);
	cipher.setAAD(associatedData(binding, field));
	const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
	const payload = Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
	return `${SEALED_PREFIX}${key.id}:${payload}`;
}

/** The key id a sealed value names, or `null` when the value is not sealed (or malformed). */
export function sealedKeyId(value: string): string | null {
	if (!value.startsWith(SEALED_PREFIX)) return null;
	const rest = value.slice(SEALED_PREFIX.length);
	const colon = rest.indexOf(":");
	return colon > 0 ? rest.slice(0, colon) : null;
}

/** Open a sealed value; `null` when the tag does not verify (wrong key, tampered, moved or rolled back). */
export function openValue(key: DerivedKey, binding: SealBinding, field: string, value: string): string | null {
	const payload = Buffer.from(value.slice(SEALED_PREFIX.length + key.id.length + 1), "base64url");
	if (payload.length < IV_BYTES + TAG_BYTES) return null;
	try {
		const decipher = createDecipheriv("aes-256-gcm", key.seal, payload.subarray(0, IV_BYTES));
		decipher.setAAD(associatedData(binding, field));
		decipher.setAuthTag(payload.subarray(payload.length - TAG_BYTES));
		return (
			decipher.update(payload.subarray(IV_BYTES, payload.length - TAG_BYTES), undefined, "utf8") +
			decipher.final("utf8")
		);
	} catch {
		return null;
	}
}

/** `hmac:<keyId>:<hex>` of a plaintext identity key: stores index this instead of the identity. */
export function identityHmac(key: DerivedKey, provider: string, identityKey: string): string {
	const mac = createHmac("sha256", key.identity).update(`${provider}\u0000${identityKey}`, "utf8").digest("hex");
	return `hmac:${key.id}:${mac}`;
}
