import { createHash, timingSafeEqual } from "node:crypto";
import { AuthpoolError } from "@authpool/core";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Parse admin token hashes (sha256 hex of each token, comma or newline separated; `#` starts a comment).
 * @throws AuthpoolError `INVALID_OPTIONS` naming the position of a malformed entry (never its value).
 */
export function parseAdminTokenHashes(spec: string): string[] {
	const entries = spec
		.split(/\r?\n/)
		.map((line) => line.replace(/#.*$/, ""))
		.flatMap((line) => line.split(/[\s,]+/))
		.map((entry) => entry.trim().toLowerCase())
		.filter((entry) => entry.length > 0);
	entries.forEach((entry, index) => {
		if (!SHA256_HEX.test(entry)) {
			throw new AuthpoolError("INVALID_OPTIONS", `admin token hash #${index + 1} is not 64 hex characters (sha256)`);
		}
	});
	return entries;
}

/** sha256 hex of a token, the form admin token hashes are configured in. */
export function hashAdminToken(token: string): string {
	return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * Checks `Authorization: Bearer <token>` against configured sha256 hashes. The presented token is hashed
 * first, so every comparison is between equal-length digests; every configured hash is compared (no early
 * exit), so timing reveals neither which hash matched nor how much of it.
 */
export function createAdminTokenVerifier(hashes: readonly string[]): (authorization: string | undefined) => boolean {
	const digests = hashes.map((hash) => Buffer.from(hash, "hex"));
	return (authorization) => {
		if (digests.length === 0 || typeof authorization !== "string") return false;
		const match = /^Bearer[ ]+(\S{1,4096})\s*$/i.exec(authorization);
		if (!match?.[1]) return false;
		const presented = createHash("sha256").update(match[1], "utf8").digest();
		let ok = false;
		for (const digest of digests) {
			if (timingSafeEqual(presented, digest)) ok = true;
		}
		return ok;
	};
}
