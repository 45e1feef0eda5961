/**
 * Bearer tokens of a broker: scoped (`admin` / `client` / `metrics`), configured as SHA-256 hashes
 * (plain tokens only from a file or an environment variable), compared in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { AuthpoolError } from "@authpool/core";

export type BrokerScope = "admin" | "client" | "metrics";
export const BROKER_SCOPES: readonly BrokerScope[] = ["admin", "client", "metrics"];

const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;

/**
 * The configuration form of a token: `sha256:<hex>` of its trimmed value. Store this, not the token.
 * @throws AuthpoolError `INVALID_INPUT` for an empty or whitespace-only token.
 * @example hashBrokerToken(readFileSync("broker.token", "utf8")) // "sha256:9f86d0…"
 */
export function hashBrokerToken(token: string): string {
	const trimmed = typeof token === "string" ? token.trim() : "";
	if (!trimmed) throw new AuthpoolError("INVALID_INPUT", "broker token is empty or whitespace-only");
	return `sha256:${createHash("sha256").update(trimmed, "utf8").digest("hex")}`;
}

/** One configured token. Exactly one of `hash`, `file`, `env`. */
export interface BrokerTokenSpec {
	/** `hashBrokerToken(token)` output. */
	hash?: string;
	/** Path of a file holding the plain token (trimmed). */
	file?: string;
	/** Name of an environment variable holding the plain token (trimmed). */
	env?: string;
	/** Label for logs and metrics (never the token). @default "<scope>-<n>" */
	name?: string;
	/**
	 * Providers this token may see and act on (client tokens). Rows of other providers are invisible to
	 * it and their routes answer 404, as if absent. @default every provider
	 */
	providers?: string[];
}

export type BrokerTokens = Partial<Record<BrokerScope, BrokerTokenSpec[]>>;

/** An authenticated caller. */
export interface BrokerPrincipal {
	scope: BrokerScope;
	name: string;
	/** Unique per configured token (`<scope>#<index>`): rate limits are kept per key, whatever the names. */
	key: string;
	/** `null`: every provider. */
	providers: ReadonlySet<string> | null;
}

interface TokenEntry extends BrokerPrincipal {
	digest: Buffer;
}

function fail(message: string): never {
	throw new AuthpoolError("INVALID_OPTIONS", `startBroker: ${message}`);
}

function resolveHash(spec: BrokerTokenSpec, where: string, env: Record<string, string | undefined>): string {
	const sources = [spec.hash, spec.file, spec.env].filter((v) => v !== undefined).length;
	if (sources !== 1) fail(`${where} needs exactly one of hash, file, env`);
	if (spec.hash !== undefined) {
		const hash = spec.hash.trim().toLowerCase();
		if (!HASH_PATTERN.test(hash)) fail(`${where}.hash must be "sha256:<64 hex>" (see hashBrokerToken)`);
		return hash;
	}
	let plain: string | undefined;
	if (spec.file !== undefined) {
		try {
			plain = readFileSync(spec.file, "utf8");
		} catch {
			fail(`${where}.file cannot be read`);
		}
	} else {
		plain = env[spec.env as string];
		if (plain === undefined) fail(`${where}.env names an unset variable`);
	}
	if (!plain?.trim()) fail(`${where} is an empty or whitespace-only token`);
	return hashBrokerToken(plain);
}

/** The token table: validated at boot (empty tokens, malformed hashes, one token in two scopes). */
export class TokenTable {
	readonly #entries: TokenEntry[] = [];

	constructor(tokens: BrokerTokens, env: Record<string, string | undefined>) {
		const seen = new Map<string, string>();
		for (const scope of Object.keys(tokens)) {
			if (!BROKER_SCOPES.includes(scope as BrokerScope)) fail(`unknown token scope "${scope}"`);
		}
		for (const scope of BROKER_SCOPES) {
			(tokens[scope] ?? []).forEach((spec, index) => {
				const where = `tokens.${scope}[${index}]`;
				const hash = resolveHash(spec, where, env);
				const earlier = seen.get(hash);
				if (earlier !== undefined) {
					fail(
						earlier === scope
							? `${where} repeats a token of the same scope`
							: `${where} is also a ${earlier} token: one token must not hold two scopes`,
					);
				}
				seen.set(hash, scope);
				this.#entries.push({
					scope,
					name: spec.name ?? `${scope}-${index + 1}`,
					key: `${scope}#${index}`,
					providers: spec.providers ? new Set(spec.providers) : null,
					digest: Buffer.from(hash.slice("sha256:".length), "hex"),
				});
			});
		}
	}

	get size(): number {
		return this.#entries.length;
	}

	/**
	 * The principal of an `Authorization` header value, or `null`. Every configured digest is compared
	 * (constant time each, no early exit), so timing does not tell which or how many tokens matched.
	 */
	authenticate(header: string | undefined): BrokerPrincipal | null {
		if (!header) return null;
		const match = /^bearer\s+(.+)$/i.exec(header.trim());
		const token = match?.[1]?.trim();
		if (!token || token.length > 4096) return null;
		const digest = createHash("sha256").update(token, "utf8").digest();
		let found: TokenEntry | null = null;
		for (const entry of this.#entries) {
			if (timingSafeEqual(entry.digest, digest) && found === null) found = entry;
		}
		if (!found) return null;
		return { scope: found.scope, name: found.name, key: found.key, providers: found.providers };
	}
}
