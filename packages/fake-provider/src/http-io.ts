import type { IncomingMessage, ServerResponse } from "node:http";

/** What a handler answers. A string body is sent as-is, anything else as JSON. */
export interface FakeResponse {
	status: number;
	headers?: Record<string, string>;
	body?: unknown;
	/** Sent instead of `body` as a chunked stream, one chunk every `streamChunkDelayMs`. */
	chunks?: string[];
}

const MAX_BODY_BYTES = 1_048_576;

/** Reads the whole request body; `tooLarge` when it exceeds 1 MiB (the rest is drained, not kept). */
export function readBody(req: IncomingMessage): Promise<{ raw: string; tooLarge: boolean }> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		let tooLarge = false;
		req.on("data", (chunk: Buffer) => {
			size += chunk.length;
			if (size > MAX_BODY_BYTES) tooLarge = true;
			else chunks.push(chunk);
		});
		req.on("end", () => resolve({ raw: Buffer.concat(chunks).toString("utf8"), tooLarge }));
		req.on("error", reject);
	});
}

/** Parses JSON or form bodies; either encoding is accepted whatever the content type claims. */
export function parseBody(raw: string, contentType: string | undefined): { ok: true; value: unknown } | { ok: false } {
	if (raw.trim() === "") return { ok: true, value: undefined };
	const type = (contentType ?? "").toLowerCase();
	const looksJson = /^\s*[[{"]/.test(raw);
	if (type.includes("json") || (looksJson && !type.includes("x-www-form-urlencoded"))) {
		try {
			return { ok: true, value: JSON.parse(raw) };
		} catch {
			return { ok: false };
		}
	}
	if (type.includes("x-www-form-urlencoded") || /^[^=&\s]+=/.test(raw)) {
		return { ok: true, value: Object.fromEntries(new URLSearchParams(raw)) };
	}
	return { ok: false };
}

/** Writes a response unless the socket is already gone. */
export function send(res: ServerResponse, response: FakeResponse, chunkDelayMs = 0): void {
	if (res.destroyed || res.writableEnded) return;
	const headers: Record<string, string> = { ...response.headers };
	if (response.chunks) {
		sendChunks(res, response.status, headers, response.chunks, chunkDelayMs);
		return;
	}
	let payload = "";
	if (response.body !== undefined) {
		if (typeof response.body === "string") payload = response.body;
		else {
			payload = JSON.stringify(response.body);
			if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
				headers["content-type"] = "application/json";
			}
		}
	}
	headers["content-length"] = String(Buffer.byteLength(payload));
	res.writeHead(response.status, headers);
	res.end(payload);
}

/** Lower-cased header names; repeated headers joined with ", ". */
export function lowerCaseHeaders(req: IncomingMessage): Record<string, string> {
	const out: Record<string, string> = {};
	for (const [name, value] of Object.entries(req.headers)) {
		if (value === undefined) continue;
		out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
	}
	return out;
}

function sendChunks(
	res: ServerResponse,
	status: number,
	headers: Record<string, string>,
	chunks: string[],
	delayMs: number,
): void {
	res.writeHead(status, headers);
	let index = 0;
	const next = () => {
		if (res.destroyed || res.writableEnded) return;
		const chunk = chunks[index++];
		if (chunk === undefined) {
			res.end();
			return;
		}
		res.write(chunk);
		if (index >= chunks.length) res.end();
		else setTimeout(next, delayMs);
	};
	next();
}
