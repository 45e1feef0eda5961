/**
 * Test-only helpers (not exported from the package): a scripted fetch that records calls, and
 * contexts with an injected clock.
 */
import { type Clock, type FetchLike, type Logger, silentLogger, type UsageFetchContext } from "@authpool/core";

export interface RecordedCall {
	url: string;
	method: string;
	headers: Record<string, string>;
	body?: string;
}

export type ScriptStep = Response | Error | ((call: RecordedCall) => Response | Promise<Response>);

/** A fetch that answers from `steps` in order (the last step repeats) and records every call. */
export function scriptedFetch(steps: ScriptStep[]): FetchLike & { calls: RecordedCall[] } {
	const calls: RecordedCall[] = [];
	const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
		const headers: Record<string, string> = {};
		new Headers(init?.headers).forEach((value, key) => {
			headers[key] = value;
		});
		const call: RecordedCall = {
			url: String(input),
			method: init?.method ?? "GET",
			headers,
			...(typeof init?.body === "string" ? { body: init.body } : {}),
		};
		calls.push(call);
		if (init?.signal?.aborted) throw init.signal.reason ?? new Error("aborted");
		const step = steps[Math.min(calls.length - 1, steps.length - 1)];
		if (step === undefined) throw new Error("no scripted response");
		if (step instanceof Error) throw step;
		if (typeof step === "function") return step(call);
		// a fresh copy per call: a cloned (tee'd) body never finishes cancelling
		return new Response(await step.clone().arrayBuffer(), { status: step.status, headers: step.headers });
	}) as FetchLike & { calls: RecordedCall[] };
	fetch.calls = calls;
	return fetch;
}

/** A JSON response. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
	return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

export function fixedClock(now: number): Clock & { set(value: number): void } {
	let current = now;
	return {
		now: () => current,
		set(value) {
			current = value;
		},
	};
}

/** A usage context whose retry sleeps are instant and recorded. */
export function usageContext(
	fetch: FetchLike,
	clock: Clock,
	logger: Logger = silentLogger,
): UsageFetchContext & { waits: number[] } {
	const waits: number[] = [];
	return {
		fetch,
		clock,
		logger,
		env: {},
		waits,
		retryWait: async (delayMs, signal) => {
			waits.push(delayMs);
			if (signal?.aborted) throw signal.reason;
		},
	};
}
