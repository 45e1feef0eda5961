/**
 * Abort helpers: a caller's signal rejects only that caller; shared work keeps running for others.
 */
import { AbortedError, AuthpoolError } from "../errors";

/**
 * Race `promise` against `signal`: rejects with `AbortedError` when the signal fires, without
 * cancelling the underlying work (other awaiters of a shared flight are unaffected).
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined, message?: string): Promise<T> {
	if (!signal) return promise;
	if (signal.aborted) {
		promise.catch(() => {});
		return Promise.reject(new AbortedError(message));
	}
	return new Promise<T>((resolve, reject) => {
		const onAbort = () => reject(new AbortedError(message));
		signal.addEventListener("abort", onAbort, { once: true });
		promise.then(
			(value) => {
				signal.removeEventListener("abort", onAbort);
				resolve(value);
			},
			(error: unknown) => {
				signal.removeEventListener("abort", onAbort);
				reject(error);
			},
		);
	});
}

/**
 * Run `task` with a signal that aborts after `timeoutMs` (an unref'd timer, so it never keeps the
 * process alive). Rejects with a `TIMEOUT` error when the deadline passes first.
 */
export async function withTimeout<T>(
	timeoutMs: number,
	message: string,
	task: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
	const controller = new AbortController();
	let timer: ReturnType<typeof setTimeout> | undefined;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(() => {
			const error = new AuthpoolError("TIMEOUT", message);
			controller.abort(error);
			reject(error);
		}, timeoutMs);
		timer.unref?.();
	});
	try {
		return await Promise.race([task(controller.signal), deadline]);
	} finally {
		if (timer) clearTimeout(timer);
	}
}

/**
 * Abortable sleep. The timer is deliberately NOT unref'd: a caller waiting (e.g. for a peer's refresh
 * lease) must keep the process alive, or a CLI would exit silently mid-request.
 *
 * @internal Exported for the built-in plugins' default poll/retry waits; not part of the stable API.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal?.aborted) return reject(new AbortedError());
		const timer = setTimeout(() => {
			signal?.removeEventListener("abort", onAbort);
			resolve();
		}, ms);
		const onAbort = () => {
			clearTimeout(timer);
			reject(new AbortedError());
		};
		signal?.addEventListener("abort", onAbort, { once: true });
	});
}

/**
 * Call into plugin code under both the caller's `signal` and a `timeoutMs` deadline: `task` gets a
 * signal that fires on either, and the call rejects with `AbortedError` / a `TIMEOUT` error even when
 * the plugin ignores its signal and never settles.
 */
export function boundedCall<T>(
	timeoutMs: number,
	message: string,
	signal: AbortSignal | undefined,
	task: (signal: AbortSignal) => Promise<T> | T,
): Promise<T> {
	if (signal?.aborted) return Promise.reject(new AbortedError(`${message}: aborted by caller`));
	const bounded = withTimeout(timeoutMs, `${message}: timed out`, async (deadline) =>
		task(signal ? AbortSignal.any([signal, deadline]) : deadline),
	);
	return raceSignal(bounded, signal, `${message}: aborted by caller`);
}

/** The error is this call's own abort or deadline (to be rethrown, not folded into a result). */
export function isAbortOrTimeout(error: unknown): boolean {
	return AuthpoolError.isInstance(error) && (error.code === "ABORTED" || error.code === "TIMEOUT");
}
