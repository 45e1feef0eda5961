/**
 * One branded base error with a closed code union (CONTRIBUTING.md "House rules").
 * Messages never contain secrets: credentials are named by provider + id (+ email).
 */

export type AuthpoolErrorCode =
	| "INVALID_OPTIONS"
	| "INVALID_INPUT"
	| "NOT_FOUND"
	| "NO_CREDENTIAL"
	| "NO_ELIGIBLE_CREDENTIAL"
	| "CONFLICT"
	| "OAUTH_REFRESH_FAILED"
	| "OAUTH_NOT_SUPPORTED"
	| "UNKNOWN_PROVIDER"
	| "TIMEOUT"
	| "ABORTED"
	| "STORE_ERROR"
	| "STORE_CLOSED"
	| "STORE_BUSY"
	| "SCHEMA_TOO_NEW"
	| "CORRUPT_DATA"
	| "DECRYPTION_FAILED"
	| "UNKNOWN_KEY"
	| "UPSTREAM_ERROR";

const BRAND = Symbol.for("authpool.error");

export interface AuthpoolErrorOptions {
	cause?: unknown;
	/** Non-secret structured details (ids, provider names, statuses). */
	details?: Record<string, unknown>;
}

/** Base class of every error authpool throws. */
export class AuthpoolError extends Error {
	readonly code: AuthpoolErrorCode;
	readonly details?: Record<string, unknown>;
	readonly [BRAND] = true;

	constructor(code: AuthpoolErrorCode, message: string, options: AuthpoolErrorOptions = {}) {
		super(message, options.cause === undefined ? undefined : { cause: options.cause });
		this.name = "AuthpoolError";
		this.code = code;
		if (options.details) this.details = options.details;
	}

	/** Cross-realm / cross-copy safe instance check. */
	static isInstance(value: unknown): value is AuthpoolError {
		return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
	}
}

export interface OAuthRefreshErrorOptions extends AuthpoolErrorOptions {
	provider: string;
	/** `true` for invalid_grant / revoked / expired refresh token / 401-403 at the token endpoint. */
	definitive: boolean;
	/** HTTP status from the token endpoint, when one was received. */
	status?: number;
	/** Provider's OAuth error code (`invalid_grant`, ...), when one was returned. */
	errorCode?: string;
	credentialId?: number;
}

/** A refresh failed. Callers branch on `definitive` (disable) vs transient (block briefly, retry later). */
export class OAuthRefreshError extends AuthpoolError {
	readonly provider: string;
	readonly definitive: boolean;
	readonly status?: number;
	readonly errorCode?: string;
	readonly credentialId?: number;

	constructor(message: string, options: OAuthRefreshErrorOptions) {
		super("OAUTH_REFRESH_FAILED", message, options);
		this.name = "OAuthRefreshError";
		this.provider = options.provider;
		this.definitive = options.definitive;
		if (options.status !== undefined) this.status = options.status;
		if (options.errorCode !== undefined) this.errorCode = options.errorCode;
		if (options.credentialId !== undefined) this.credentialId = options.credentialId;
	}

	static override isInstance(value: unknown): value is OAuthRefreshError {
		return AuthpoolError.isInstance(value) && value.code === "OAUTH_REFRESH_FAILED";
	}
}

/** Thrown to one caller whose own signal aborted; shared work keeps running for others. */
export class AbortedError extends AuthpoolError {
	constructor(message = "operation aborted by caller", options: AuthpoolErrorOptions = {}) {
		super("ABORTED", message, options);
		this.name = "AbortedError";
	}
}

/** Build an `INVALID_OPTIONS` error from zod-style issues (`path: message`). */
export function invalidOptions(
	subject: string,
	issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
): AuthpoolError {
	const lines = issues.map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`);
	return new AuthpoolError("INVALID_OPTIONS", `Invalid ${subject} options: ${lines.join("; ")}`, {
		details: { issues: lines },
	});
}
