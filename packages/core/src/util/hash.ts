/**
 * Hashes: xxHash32 (same value as `Bun.hash.xxHash32` for a UTF-8 string, seed 0) for session
 * placement, and SHA-256 fingerprints for secrets that must be compared but never shown.
 */
import { createHash } from "node:crypto";

const PRIME1 = 0x9e3779b1;
const PRIME2 = 0x85ebca77;
const PRIME3 = 0xc2b2ae3d;
const PRIME4 = 0x27d4eb2f;
const PRIME5 = 0x165667b1;
const encoder = new TextEncoder();

function rotl(value: number, bits: number): number {
	return ((value << bits) | (value >>> (32 - bits))) >>> 0;
}

function round(acc: number, lane: number): number {
	return Math.imul(rotl((acc + Math.imul(lane, PRIME2)) >>> 0, 13), PRIME1) >>> 0;
}

function readU32(bytes: Uint8Array, offset: number): number {
	return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

/** xxHash32 of a string's UTF-8 bytes (or of raw bytes). */
export function xxHash32(input: string | Uint8Array, seed = 0): number {
	const bytes = typeof input === "string" ? encoder.encode(input) : input;
	const length = bytes.length;
	let offset = 0;
	let acc: number;
	if (length >= 16) {
		let v1 = (seed + PRIME1 + PRIME2) >>> 0;
		let v2 = (seed + PRIME2) >>> 0;
		let v3 = seed >>> 0;
		let v4 = (seed - PRIME1) >>> 0;
		const limit = length - 16;
		while (offset <= limit) {
			v1 = round(v1, readU32(bytes, offset));
			v2 = round(v2, readU32(bytes, offset + 4));
			v3 = round(v3, readU32(bytes, offset + 8));
			v4 = round(v4, readU32(bytes, offset + 12));
			offset += 16;
		}
		acc = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) >>> 0;
	} else {
		acc = (seed + PRIME5) >>> 0;
	}
	acc = (acc + length) >>> 0;
	while (offset + 4 <= length) {
		acc = Math.imul(rotl((acc + Math.imul(readU32(bytes, offset), PRIME3)) >>> 0, 17), PRIME4) >>> 0;
		offset += 4;
	}
	while (offset < length) {
		acc = Math.imul(rotl((acc + Math.imul(bytes[offset]!, PRIME5)) >>> 0, 11), PRIME1) >>> 0;
		offset += 1;
	}
	acc ^= acc >>> 15;
	acc = Math.imul(acc, PRIME2) >>> 0;
	acc ^= acc >>> 13;
	acc = Math.imul(acc, PRIME3) >>> 0;
	acc ^= acc >>> 16;
	return acc >>> 0;
}

/**
 * Hex SHA-256; use to compare or key secrets without keeping them.
 *
 * @internal Exported for the built-in plugins; not part of the stable API.
 */
export function sha256Hex(value: string): string {
	return createHash("sha256").update(value).digest("hex");
}

/** Short, non-reversible fingerprint of a secret (first 16 hex chars of SHA-256). */
export function fingerprint(secret: string): string {
	return sha256Hex(secret).slice(0, 16);
}
