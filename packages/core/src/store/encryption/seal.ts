/**
 * The sealed-value format and its AES-256-GCM primitives (random 96-bit IV, 128-bit tag).
 *
 * A write seals all secret fields of a credential as one GCM message (a bundle), so opening a row
 * costs one cipher setup, not one per field: the first secret field in name order holds
 * `"enc:v1:<keyId>:*<base64url(iv | ciphertext | tag)>"` (the ciphertext of a JSON object field →
 * value), every other secret field holds the reference `"enc:v1:<keyId>:="`. The associated data
 * names the provider, where the row was written (see {@link SealBinding}) and the sorted list of
 * fields, so a bundle opens only in the row and version it was sealed for, with exactly those fields.
 *
 * Single values `"enc:v1:<keyId>:<base64url(iv | ciphertext | tag)>"` (one message per field, the
 * field name in the associated data) are still read.
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

function associatedData(binding: SealBinding, field: string): string {
	return `${bindingSignature(binding)}\u0000${field}`;
}

/**
 * Scratch space for opening (payload bytes, associated data): opening is synchronous, so one buffer
 * each serves every call and a reload of many rows allocates no buffers per row. Grown on demand.
 */
let payloadScratch = Buffer.allocUnsafe(1024);
let aadScratch = Buffer.allocUnsafe(512);

const BASE64URL_TEXT = /^[A-Za-z0-9_-]*$/;
const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Decode `encoded` into the payload scratch and return its byte length, or `-1` unless it is the
 * canonical base64url of at least IV + tag. Node's decoder would skip foreign characters, accept the
 * standard alphabet and ignore spare bits, so a changed character could decode to the same bytes:
 * the alphabet, the length and the spare bits are checked here instead.
 */
function decodePayload(encoded: string): number {
	const length = encoded.length;
	const rest = length % 4;
	if (rest === 1 || !BASE64URL_TEXT.test(encoded)) return -1;
	if (rest !== 0) {
		const last = BASE64URL_ALPHABET.indexOf(encoded[length - 1]!);
		if ((last & (rest === 2 ? 0x0f : 0x03)) !== 0) return -1;
	}
	const bytes = (length * 3) >> 2;
	if (bytes < IV_BYTES + TAG_BYTES) return -1;
	if (payloadScratch.length < bytes) payloadScratch = Buffer.allocUnsafe(bytes * 2);
	return payloadScratch.write(encoded, 0, "base64url") === bytes ? bytes : -1;
}

/** Open one GCM message (`iv | ciphertext | tag`, base64url) as UTF-8; `null` when it does not verify. */
function openMessage(key: DerivedKey, aad: string, encoded: string): string | null {
	const bytes = decodePayload(encoded);
	if (bytes < 0) return null;
	if (aadScratch.length < aad.length * 3) aadScratch = Buffer.allocUnsafe(aad.length * 6);
	const aadBytes = aadScratch.write(aad, 0, "utf8");
	try {
		const decipher = createDecipheriv("aes-256-gcm", key.seal, payloadScratch.subarray(0, IV_BYTES));
		decipher.setAAD(aadScratch.subarray(0, aadBytes));
		decipher.setAuthTag(payloadScratch.subarray(bytes - TAG_BYTES, bytes));
		return (
			decipher.update(payloadScratch.subarray(IV_BYTES, bytes - TAG_BYTES), undefined, "utf8") + decipher.final("utf8")
		);
	} catch {
		return null;
	}
}

const BUNDLE_MARK = "*";
const REFERENCE_MARK = "=";

/** What a sealed string is: a bundle, a reference to the row's bundle, or a single sealed value. */
export function sealedKind(value: string): "bundle" | "reference" | "value" {
	const at = value.indexOf(":", SEALED_PREFIX.length) + 1;
	const mark = at > 0 ? value[at] : undefined;
	return mark === BUNDLE_MARK ? "bundle" : mark === REFERENCE_MARK && value.length === at + 1 ? "reference" : "value";
}

function bundleAssociatedData(binding: SealBinding, sortedFields: readonly string[]): string {
	return `${bindingSignature(binding)}\u0000*${sortedFields.join(",")}`;
}

/** Seal the secret fields of one write as a bundle; the caller stores `bundle` in the first field by name. */
export function sealBundle(
	key: DerivedKey,
	binding: SealBinding,
	values: Record<string, string>,
): { bundle: string; reference: string } {
	const iv = randomBytes(IV_BYTES);
	const cipher = createCipheriv("aes-256-gcm", key.seal, iv);
	cipher.setAAD(Buffer.from(bundleAssociatedData(binding, Object.keys(values).sort()), "utf8"));
	const body = Buffer.concat([cipher.update(JSON.stringify(values), "utf8"), cipher.final()]);
	const payload = Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
	return {
		bundle: `${SEALED_PREFIX}${key.id}:${BUNDLE_MARK}${payload}`,
		reference: `${SEALED_PREFIX}${key.id}:${REFERENCE_MARK}`,
	};
}

/**
 * Open a bundle sealed for exactly `sortedFields`; `null` when the tag does not verify (wrong key,
 * tampered, moved, rolled back, a field added or removed) or the content is not those fields' strings.
 */
export function openBundle(
	key: DerivedKey,
	binding: SealBinding,
	sortedFields: readonly string[],
	value: string,
): Record<string, string> | null {
	const text = openMessage(
		key,
		bundleAssociatedData(binding, sortedFields),
		value.slice(SEALED_PREFIX.length + key.id.length + 2),
	);
	if (text === null) return null;
	// Authentic, so written by a wrapper; checked anyway so a caller never sees a non-string secret.
	const values = JSON.parse(text) as unknown;
	if (typeof values !== "object" || values === null || Array.isArray(values)) return null;
	const record = values as Record<string, unknown>;
	if (Object.keys(record).length !== sortedFields.length) return null;
	for (const field of sortedFields) if (typeof record[field] !== "string") return null;
	return record as Record<string, string>;
}

/** Seal one string field (the single-value format; writes use {@link sealBundle}). */
export function sealValue(key: DerivedKey, binding: SealBinding, field: string, plaintext: string): string {
	const iv = randomBytes(IV_BYTES);
	const cipher = createCipheriv("aes-256-gcm", key.seal, iv);
	cipher.setAAD(Buffer.from(associatedData(binding, field), "utf8"));
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
	return openMessage(key, associatedData(binding, field), value.slice(SEALED_PREFIX.length + key.id.length + 1));
}

/** `hmac:<keyId>:<hex>` of a plaintext identity key: stores index this instead of the identity. */
export function identityHmac(key: DerivedKey, provider: string, identityKey: string): string {
	const mac = createHmac("sha256", key.identity).update(`${provider}\u0000${identityKey}`, "utf8").digest("hex");
	return `hmac:${key.id}:${mac}`;
}
