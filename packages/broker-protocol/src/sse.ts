/** Server-sent events framing shared by server (encode) and client (decode). */
import { type StreamEventName, type StreamFrame, streamFrameSchemas } from "./schemas";

/** One SSE frame; `id` carries the generation so a proxy log shows progress. */
export function encodeSseFrame(event: StreamEventName, data: unknown, id?: number): string {
	const idLine = id === undefined ? "" : `id: ${id}\n`;
	return `${idLine}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A raw event as read off the stream, before validation. */
export interface RawSseEvent {
	event: string;
	data: string;
}

/**
 * Incremental SSE parser: feed it decoded text chunks, get complete events. Comment lines (`:`) are
 * dropped; multi-line `data:` is joined with newlines as the spec says.
 */
export class SseParser {
	#buffer = "";

	push(chunk: string): RawSseEvent[] {
		this.#buffer += chunk;
		const out: RawSseEvent[] = [];
		for (;;) {
			const match = /\r?\n\r?\n/.exec(this.#buffer);
			if (!match) break;
			const block = this.#buffer.slice(0, match.index);
			this.#buffer = this.#buffer.slice(match.index + match[0].length);
			let event = "message";
			const data: string[] = [];
			for (const line of block.split(/\r?\n/)) {
				if (line === "" || line.startsWith(":")) continue;
				const colon = line.indexOf(":");
				const field = colon === -1 ? line : line.slice(0, colon);
				const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
				if (field === "event") event = value;
				else if (field === "data") data.push(value);
			}
			if (data.length > 0) out.push({ event, data: data.join("\n") });
		}
		return out;
	}

	/** Bytes held waiting for the end of a frame (a client caps this). */
	get pending(): number {
		return this.#buffer.length;
	}
}

/**
 * Validate a raw event against its frame schema; `null` for an unknown event name (forward
 * compatibility: a newer broker may send events an older client ignores).
 * @throws Error when a known event's data is not valid JSON or fails its schema.
 */
export function parseStreamFrame(raw: RawSseEvent): StreamFrame | null {
	if (!Object.hasOwn(streamFrameSchemas, raw.event)) return null;
	const event = raw.event as StreamEventName;
	const data: unknown = JSON.parse(raw.data);
	const parsed = streamFrameSchemas[event].parse(data);
	return { event, data: parsed } as StreamFrame;
}

/** The capability list of a request header value (lower-cased, trimmed, de-duplicated). */
export function parseCapabilities(header: string | null | undefined): Set<string> {
	const out = new Set<string>();
	if (!header) return out;
	for (const part of header.split(",")) {
		const value = part.trim().toLowerCase();
		if (value) out.add(value);
	}
	return out;
}
