/**
 * Masks secrets before anything is logged or put in an error.
 */

const SECRET_KEYS = new Set([
	"access",
	"refresh",
	"key",
	"apikey",
	"api_key",
	"token",
	"accesstoken",
	"access_token",
	"refreshtoken",
	"refresh_token",
	"id_token",
	"idtoken",
	"authorization",
	"password",
	"secret",
	"client_secret",
	"bearer",
	"cookie",
	"code_verifier",
]);

const TOKEN_PATTERNS: RegExp[] = [
	/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}/g, // JWT
	/\b(?:sk|rk|pk)-[A-Za-z0-9_-]{12,}/g, // sk-..., sk-ant-...
	/\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{16,}/g,
	/\bAIza[0-9A-Za-z_-]{20,}/g,
	/\bya29\.[0-9A-Za-z_-]{10,}/g,
	/\b1\/\/[0-9A-Za-z_-]{20,}/g, // Google refresh tokens
	/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi,
];

/** Replace token-shaped substrings in a string. */
export function redactString(value: string): string {
	let out = value;
	for (const pattern of TOKEN_PATTERNS) {
		out = out.replace(pattern, (match, bearer?: string) =>
			typeof bearer === "string" && /^Bearer/i.test(match) ? `${bearer}[redacted]` : "[redacted]",
		);
	}
	return out;
}

/**
 * Deep copy with known secret fields masked and token-shaped strings replaced. Cycles are cut.
 * Also accepts explicit secrets to scrub wherever they appear.
 */
export function redact<T>(value: T, extraSecrets: readonly string[] = []): T {
	const seen = new WeakSet<object>();
	const secrets = extraSecrets.filter((s) => typeof s === "string" && s.length >= 4);
	const scrub = (text: string): string => {
		let out = redactString(text);
		for (const secret of secrets) out = out.split(secret).join("[redacted]");
		return out;
	};
	const walk = (input: unknown, keyName?: string): unknown => {
		if (keyName !== undefined && SECRET_KEYS.has(keyName.toLowerCase())) {
			return input === undefined || input === null || input === "" ? input : "[redacted]";
		}
		if (typeof input === "string") return scrub(input);
		if (input === null || typeof input !== "object") return input;
		if (seen.has(input)) return "[circular]";
		seen.add(input);
		if (input instanceof Error) {
			return { name: input.name, message: scrub(input.message) };
		}
		if (Array.isArray(input)) return input.map((item) => walk(item));
		const out: Record<string, unknown> = {};
		for (const [k, v] of Object.entries(input)) out[k] = walk(v, k);
		return out;
	};
	return walk(value) as T;
}

/** The secret strings a credential carries (to scrub wherever they may have been quoted). */
export function credentialSecrets(credential: {
	type: string;
	key?: unknown;
	access?: unknown;
	refresh?: unknown;
}): string[] {
	const values = credential.type === "api_key" ? [credential.key] : [credential.access, credential.refresh];
	return values.filter((value): value is string => typeof value === "string" && value !== "");
}

/**
 * `redactString` plus every exact occurrence of the given secrets (shorter than 4 characters are
 * ignored: replacing them would shred ordinary words).
 */
export function scrubSecrets(value: string, secrets: readonly string[]): string {
	let out = value;
	// Longest first, so a secret that contains another is replaced whole.
	const sorted = secrets.filter((s) => typeof s === "string" && s.length >= 4).sort((a, b) => b.length - a.length);
	for (const secret of sorted) out = out.split(secret).join("[redacted]");
	return redactString(out);
}
