/**
 * The SQLITE_BUSY family: errors that mean "another connection holds a lock right now" and go away
 * on retry (BUSY, BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT, LOCKED, LOCKED_SHAREDCACHE, ...).
 */

/** `true` when `error` is a SQLite error (better-sqlite3 or bun:sqlite: both carry `code`) of the BUSY/LOCKED family. */
export function isSqliteBusyError(error: unknown): boolean {
	if (typeof error !== "object" || error === null) return false;
	const code = (error as { code?: unknown }).code;
	if (typeof code === "string") return code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED");
	const message = (error as { message?: unknown }).message;
	return typeof message === "string" && /database (?:table )?is locked/i.test(message);
}

/** Bounded exponential backoff: `baseMs · 2^attempt`. */
export function backoffDelayMs(attempt: number, baseMs: number): number {
	return baseMs * 2 ** attempt;
}

/**
 * Exponential backoff capped at `capMs`, with "equal jitter" (half fixed, half random): waiters of
 * several processes that met the same lock do not all wake in the same millisecond, and a long
 * wait still polls often enough to catch the short gaps between another writer's transactions.
 */
export function jitteredBackoffMs(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
	const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 16));
	return ceiling / 2 + random() * (ceiling / 2);
}

export function delay(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}
