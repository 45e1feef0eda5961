/**
 * SSE fan-out: every connected stream gets a `snapshot` frame first, then `entry` / `removed` diffs
 * (or whole snapshots for clients without `entry-diffs`) whenever the generation moves, and a
 * `keepalive` frame every `keepaliveMs`.
 */
import type { ServerResponse } from "node:http";
import { encodeSseFrame } from "@authpool/broker-protocol";
import type { AuthCredentialSnapshot, AuthStorage } from "@authpool/core";
import { type RefresherSchedule, visibleTo, wireEntry, wireSnapshot } from "./snapshot-view";
import type { BrokerPrincipal } from "./tokens";

/** A slow reader holding more than this much unsent data is dropped (it reconnects and resyncs). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

interface StreamClient {
	res: ServerResponse;
	principal: BrokerPrincipal;
	diffs: boolean;
	blockScopes: boolean;
}

export interface StreamHubOptions {
	storage: AuthStorage;
	instanceId: string;
	schedule: () => RefresherSchedule;
	now: () => number;
	keepaliveMs: number;
}

export class StreamHub {
	readonly #clients = new Set<StreamClient>();
	readonly #options: StreamHubOptions;
	/** id → serialized entry (without the time-dependent rotation ETA) as last broadcast. */
	#last = new Map<number, string>();
	#scheduled = false;
	#keepalive: ReturnType<typeof setInterval> | undefined;

	constructor(options: StreamHubOptions) {
		this.#options = options;
		this.#last = this.#index(options.storage.exportSnapshot());
	}

	get size(): number {
		return this.#clients.size;
	}

	#index(snapshot: AuthCredentialSnapshot): Map<number, string> {
		const out = new Map<number, string>();
		for (const entry of snapshot.credentials) out.set(entry.id, JSON.stringify(entry));
		return out;
	}

	#write(client: StreamClient, frame: string): void {
		if (client.res.destroyed) {
			this.#clients.delete(client);
			return;
		}
		if (client.res.writableLength > MAX_BUFFERED_BYTES) {
			this.#clients.delete(client);
			client.res.destroy();
			return;
		}
		client.res.write(frame);
	}

	/** Take over the response as an event stream; the first frame is the caller's snapshot. */
	open(res: ServerResponse, principal: BrokerPrincipal, diffs: boolean, blockScopes: boolean): void {
		res.writeHead(200, {
			"content-type": "text/event-stream; charset=utf-8",
			"cache-control": "no-cache, no-store",
			connection: "keep-alive",
			"x-accel-buffering": "no",
			"x-content-type-options": "nosniff",
		});
		res.flushHeaders();
		const client: StreamClient = { res, principal, diffs, blockScopes };
		this.#clients.add(client);
		res.on("close", () => this.#clients.delete(client));
		const now = this.#options.now();
		const snapshot = wireSnapshot(
			this.#options.storage.exportSnapshot(),
			this.#options.instanceId,
			principal,
			this.#options.schedule(),
			now,
			blockScopes,
		);
		this.#write(client, encodeSseFrame("snapshot", snapshot, snapshot.generation));
		this.#keepalive ??= setInterval(() => this.#ping(), this.#options.keepaliveMs);
		this.#keepalive.unref?.();
	}

	#ping(): void {
		const frame = encodeSseFrame("keepalive", { serverNowMs: this.#options.now() });
		for (const client of this.#clients) this.#write(client, frame);
	}

	/** The generation moved: coalesce bursts into one broadcast on the next turn of the event loop. */
	notify(): void {
		if (this.#scheduled) return;
		this.#scheduled = true;
		setImmediate(() => {
			this.#scheduled = false;
			this.#broadcast();
		});
	}

	#broadcast(): void {
		const snapshot = this.#options.storage.exportSnapshot();
		const current = this.#index(snapshot);
		const changed = snapshot.credentials.filter((entry) => this.#last.get(entry.id) !== current.get(entry.id));
		const removed = [...this.#last.keys()].filter((id) => !current.has(id));
		const previous = this.#last;
		this.#last = current;
		if (this.#clients.size === 0 || (changed.length === 0 && removed.length === 0)) return;
		const now = this.#options.now();
		const schedule = this.#options.schedule();
		const providerOf = (id: number) => {
			const text = previous.get(id);
			return text ? (JSON.parse(text) as { provider: string }).provider : "";
		};
		for (const client of [...this.#clients]) {
			if (!client.diffs) {
				const whole = wireSnapshot(
					snapshot,
					this.#options.instanceId,
					client.principal,
					schedule,
					now,
					client.blockScopes,
				);
				this.#write(client, encodeSseFrame("snapshot", whole, whole.generation));
				continue;
			}
			let frames = "";
			for (const entry of changed) {
				if (!visibleTo(client.principal, entry.provider)) continue;
				const data = {
					generation: snapshot.generation,
					serverNowMs: now,
					entry: wireEntry(entry, schedule, now, client.blockScopes),
				};
				frames += encodeSseFrame("entry", data, snapshot.generation);
			}
			for (const id of removed) {
				if (!visibleTo(client.principal, providerOf(id))) continue;
				frames += encodeSseFrame("removed", { generation: snapshot.generation, id }, snapshot.generation);
			}
			if (frames) this.#write(client, frames);
		}
	}

	close(): void {
		if (this.#keepalive) clearInterval(this.#keepalive);
		this.#keepalive = undefined;
		for (const client of this.#clients) client.res.end();
		this.#clients.clear();
	}
}
