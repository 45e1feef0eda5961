/** Request/response plumbing: bounded JSON bodies, `{error}` replies, schema errors without values. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { redactString } from "@authpool/core";
import type { z } from "zod";

/** A handled failure: answered as `{ error }` with this status. */
export class HttpError extends Error {
	readonly status: number;
	readonly headers: Record<string, string>;

	constructor(status: number, message: string, headers: Record<string, string> = {}) {
		super(message);
		this.status = status;
		this.headers = headers;
	}
}

/** Zod issues as `path: message` (messages only: zod's default messages do not echo the input value). */
export function schemaError(error: z.ZodError, what: string): HttpError {
	const issues = error.issues
		.slice(0, 5)
		.map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`);
	return new HttpError(400, redactString(`Invalid ${what}: ${issues.join("; ")}`));
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
	const parsed = schema.safeParse(value);
	if (!parsed.success) throw schemaError(parsed.error, what);
	return parsed.data;
}

/**
 * Read the body up to `limit` bytes. `undefined` for an empty body.
 * @throws HttpError 413 when larger, 400 when unreadable or not JSON.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
	const declared = Number(req.headers["content-length"]);
	if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, "Request body too large");
	const chunks: Buffer[] = [];
	let size = 0;
	try {
		for await (const chunk of req) {
			size += (chunk as Buffer).length;
			if (size > limit) throw new HttpError(413, "Request body too large");
			chunks.push(chunk as Buffer);
		}
	} catch (error) {
		if (error instanceof HttpError) throw error;
		throw new HttpError(400, "Invalid request body: unreadable");
	}
	if (size === 0) return undefined;
	const text = Buffer.concat(chunks).toString("utf8");
	if (!text.trim()) return undefined;
	try {
		return JSON.parse(text) as unknown;
	} catch {
		throw new HttpError(400, "Invalid JSON body");
	}
}

const BASE_HEADERS = {
	"cache-control": "no-store",
	"x-content-type-options": "nosniff",
};

export function sendJson(
	res: ServerResponse,
	status: number,
	body: unknown,
	headers: Record<string, string> = {},
): void {
	if (res.headersSent || res.destroyed) return;
	const text = JSON.stringify(body);
	res.writeHead(status, {
		...BASE_HEADERS,
		"content-type": "application/json; charset=utf-8",
		"content-length": String(Buffer.byteLength(text)),
		...headers,
	});
	res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
	if (res.headersSent || res.destroyed) return;
	res.writeHead(status, { ...BASE_HEADERS, ...headers });
	res.end();
}

export function sendText(res: ServerResponse, status: number, text: string, contentType: string): void {
	if (res.headersSent || res.destroyed) return;
	res.writeHead(status, {
		...BASE_HEADERS,
		"content-type": contentType,
		"content-length": String(Buffer.byteLength(text)),
	});
	res.end(text);
}

/** Query string as a plain object; a repeated key is a 400 (no array smuggling). */
export function queryObject(params: URLSearchParams): Record<string, string> {
	const out: Record<string, string> = Object.create(null);
	for (const [key, value] of params) {
		if (Object.hasOwn(out, key)) throw new HttpError(400, `Invalid query: repeated parameter`);
		out[key] = value;
	}
	return { ...out };
}
