/** Calls to a broker: bearer + capabilities headers, per-request timeout, one retry on connection errors. */

import { BROKER_CAPABILITIES, CAPABILITIES_HEADER } from "@authpool/broker-protocol";
import { AuthpoolError, redactString } from "@authpool/core";
import type { z } from "zod";

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface BrokerHttpOptions {
	url: string;
	token: string;
	fetch: FetchLike;
	timeoutMs: number;
}

export interface BrokerReply<T> {
	status: number;
	headers: Headers;
	body: T | undefined;
}

/** The broker answered with an HTTP error. `message` carries only the broker's `{error}` text. */
export function brokerError(status: number, text: string, what: string): AuthpoolError {
	let detail = "";
	try {
		const parsed = JSON.parse(text) as { error?: unknown };
		if (typeof parsed.error === "string") detail = `: ${parsed.error.slice(0, 300)}`;
	} catch {
		// Not the broker's JSON: say nothing of it.
	}
	const code = status === 404 ? "NOT_FOUND" : status === 409 || status === 412 ? "CONFLICT" : "UPSTREAM_ERROR";
	return new AuthpoolError(code, redactString(`broker ${what} answered ${status}${detail}`), { details: { status } });
}

export class BrokerHttp {
	readonly #o: BrokerHttpOptions;

	constructor(options: BrokerHttpOptions) {
		this.#o = { ...options, url: options.url.replace(/\/+$/, "") };
	}

	get url(): string {
		return this.#o.url;
	}

	headers(extra: Record<string, string> = {}): Record<string, string> {
		return {
			authorization: `Bearer ${this.#o.token}`,
			[CAPABILITIES_HEADER]: BROKER_CAPABILITIES.join(", "),
			...extra,
		};
	}

	/** Raw fetch (for the stream): no timeout, caller signal only. */
	open(path: string, init: RequestInit): Promise<Response> {
		return this.#o.fetch(`${this.#o.url}${path}`, init);
	}

	/**
	 * One JSON call. 2xx/304 → parsed (and validated) body; other statuses throw `brokerError` (never
	 * retried); a connection error is retried once.
	 * @throws AuthpoolError `UPSTREAM_ERROR` / `NOT_FOUND` / `CONFLICT`, `ABORTED` when the caller aborts.
	 */
	async call<S extends z.ZodType>(
		what: string,
		path: string,
		schema: S | null,
		init: {
			method?: string;
			body?: unknown;
			headers?: Record<string, string>;
			signal?: AbortSignal;
			timeoutMs?: number;
		} = {},
		okStatuses: readonly number[] = [],
	): Promise<BrokerReply<z.output<S>>> {
		const attempts = 2;
		let lastError: unknown;
		for (let attempt = 1; attempt <= attempts; attempt += 1) {
			if (init.signal?.aborted) throw new AuthpoolError("ABORTED", `broker ${what} aborted by caller`);
			const timeout = AbortSignal.timeout(init.timeoutMs ?? this.#o.timeoutMs);
			const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
			let res: Response;
			try {
				res = await this.#o.fetch(`${this.#o.url}${path}`, {
					method: init.method ?? "GET",
					headers: this.headers({
						...(init.body !== undefined ? { "content-type": "application/json" } : {}),
						...init.headers,
					}),
					...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
					signal,
				});
			} catch (error) {
				if (init.signal?.aborted) throw new AuthpoolError("ABORTED", `broker ${what} aborted by caller`);
				lastError = error;
				continue;
			}
			const text = await res.text();
			if (res.status === 304 || okStatuses.includes(res.status)) {
				return { status: res.status, headers: res.headers, body: undefined };
			}
			if (res.status < 200 || res.status >= 300) throw brokerError(res.status, text, what);
			if (!schema) return { status: res.status, headers: res.headers, body: undefined };
			let json: unknown;
			try {
				json = JSON.parse(text);
			} catch {
				throw new AuthpoolError("UPSTREAM_ERROR", `broker ${what} answered invalid JSON`);
			}
			const parsed = schema.safeParse(json);
			if (!parsed.success) throw new AuthpoolError("UPSTREAM_ERROR", `broker ${what} failed schema validation`);
			return { status: res.status, headers: res.headers, body: parsed.data };
		}
		throw new AuthpoolError("UPSTREAM_ERROR", `broker ${what} failed after ${attempts} attempt(s)`, {
			cause: lastError instanceof Error ? new Error(redactString(lastError.message)) : undefined,
		});
	}
}
