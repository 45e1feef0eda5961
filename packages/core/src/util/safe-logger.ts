/**
 * A logger wrapper that can never throw: an injected logger is caller code, and a failing sink must
 * not turn a committed write into a rejected call.
 */
import type { Logger } from "../types";

const LEVELS = ["debug", "info", "warn", "error"] as const;
const SAFE = Symbol.for("authpool.safe-logger");

/**
 * Wrap `logger` so each method swallows whatever the underlying one throws (and ignores a returned
 * rejection). Wrapping an already wrapped logger returns it unchanged.
 */
export function safeLogger(logger: Logger): Logger {
	if ((logger as unknown as Record<symbol, unknown>)[SAFE] === true) return logger;
	const wrapped = { [SAFE]: true } as unknown as Logger & Record<symbol, unknown>;
	for (const level of LEVELS) {
		wrapped[level] = (message, fields) => {
			try {
				const result: unknown = logger[level](message, fields);
				if (result && typeof (result as PromiseLike<unknown>).then === "function") {
					(result as Promise<unknown>).then(undefined, () => {});
				}
			} catch {
				// Nowhere safe to report a logger failure: the logger is the reporting channel.
			}
		};
	}
	return wrapped;
}
