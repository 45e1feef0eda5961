/** A recorded call of `scriptedFetch`. */
export interface ScriptedCall {
	url: string;
	method: string;
	/** Lower-cased header names. */
	headers: Record<string, string>;
	body?: string;
}

/** One scripted answer: a response, an error to throw, or a function of the call. */
export type ScriptStep = Response | Error | ((call: ScriptedCall) => Response | Promise<Response>);

/**
 * A `fetch` that answers from `steps` in order (the last step repeats) and records every call — for unit
 * tests of parsers and retry logic where a real server adds nothing. An already-aborted signal throws.
 */
export function scriptedFetch(
	steps: ScriptStep[],
): ((input: string | URL | Request, init?: RequestInit) => Promise<Response>) & { calls: ScriptedCall[] } {
	const calls: ScriptedCall[] = [];
	const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
		const headers: Record<string, string> = {};
		new Headers(init?.headers).forEach((value, key) => {
			headers[key] = value;
		});
		const call: ScriptedCall = {
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
		// A fresh copy per call: a cloned (tee'd) body never finishes cancelling.
		return new Response(await step.clone().arrayBuffer(), { status: step.status, headers: step.headers });
	};
	return Object.assign(fetch, { calls });
}

/** A JSON `Response`. */
export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
	return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}
