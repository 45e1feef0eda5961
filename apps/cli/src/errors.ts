import { AuthpoolError, errorMessage, redactString } from "@authpool/core";

/**
 * Exit codes of the `authpool` command (documented in the README):
 * 0 success, 1 a runtime failure, 2 bad usage or bad input, 3 the store could not be opened or used,
 * 4 a named credential or file was not found, 5 `check` found an unhealthy credential, 130 interrupted.
 */
export const EXIT = {
	OK: 0,
	FAILURE: 1,
	USAGE: 2,
	STORE: 3,
	NOT_FOUND: 4,
	UNHEALTHY: 5,
	INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the command reports as one line on stderr, with its exit code. */
export class CliError extends Error {
	constructor(
		message: string,
		readonly exitCode: ExitCode = EXIT.FAILURE,
	) {
		super(message);
		this.name = "CliError";
	}
}

const STORE_CODES = new Set(["STORE_ERROR", "STORE_CLOSED", "STORE_BUSY", "SCHEMA_TOO_NEW", "CORRUPT_DATA"]);
const USAGE_CODES = new Set(["INVALID_INPUT", "INVALID_OPTIONS", "UNKNOWN_PROVIDER", "OAUTH_NOT_SUPPORTED"]);
const KEY_CODES = new Set(["DECRYPTION_FAILED", "UNKNOWN_KEY"]);

/** Map anything thrown to a one-line, secret-free `CliError`. */
export function toCliError(error: unknown): CliError {
	if (error instanceof CliError) return error;
	const message = redactString(errorMessage(error)).split("\n")[0] ?? "unknown error";
	if (AuthpoolError.isInstance(error)) {
		if (USAGE_CODES.has(error.code)) return new CliError(message, EXIT.USAGE);
		if (STORE_CODES.has(error.code)) return new CliError(`store: ${message}`, EXIT.STORE);
		if (KEY_CODES.has(error.code)) return new CliError(`encryption: ${message}`, EXIT.STORE);
		if (error.code === "NOT_FOUND") return new CliError(message, EXIT.NOT_FOUND);
		if (error.code === "ABORTED") return new CliError("interrupted", EXIT.INTERRUPTED);
	}
	return new CliError(message, EXIT.FAILURE);
}
