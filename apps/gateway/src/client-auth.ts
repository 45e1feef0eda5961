import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

const sha256 = (value: string): Buffer => createHash("sha256").update(value).digest();

/** Hex SHA-256 of a client token (what `tokenHashes` and `AUTHPOOL_GATEWAY_TOKEN_HASHES` hold). */
export function hashGatewayToken(token: string): string {
	return sha256(token).toString("hex");
}

/** The token a client presented: `Authorization: Bearer <t>` or `x-api-key: <t>`. */
export function presentedToken(headers: IncomingHttpHeaders): string | undefined {
	const authorization = headers.authorization;
	if (typeof authorization === "string") {
		const match = /^bearer\s+(.+)$/i.exec(authorization.trim());
		if (match?.[1]) return match[1].trim();
	}
	const apiKey = headers["x-api-key"];
	return typeof apiKey === "string" && apiKey !== "" ? apiKey.trim() : undefined;
}

/** Checks tokens against stored hashes; every hash is compared, in constant time. */
export function createTokenCheck(hashes: Buffer[]): (token: string | undefined) => boolean {
	return (token) => {
		if (token === undefined) return false;
		const presented = sha256(token);
		let ok = false;
		for (const hash of hashes) ok = timingSafeEqual(presented, hash) || ok;
		return ok;
	};
}
