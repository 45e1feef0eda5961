/**
 * The change feed. `revision()` answers from memory (no round trip): the value moves on local writes
 * (the write transaction reads the revision it ended at), on a same-process peer's write (when
 * `localPeers`), and on NOTIFY from a dedicated listener connection. When the listener drops it
 * reconnects with backoff, re-LISTENs, then re-reads the revision and tells subscribers (a full
 * resync: notifications sent while it was away are lost). Without a listener (a `{ db }` connection
 * has no URL to open one with) a timer polls the revision row.
 */
import type { ChangeFeed, Logger } from "@authpool/core";
import type pg from "pg";
import { changeChannel } from "./migrations";
import type { PgContext } from "./pg-context";

export interface PostgresChangeFeed extends ChangeFeed {
	revision(): number;
	subscribe(listener: () => void): () => void;
	/** Whether the NOTIFY listener is connected (always `false` in polling mode). */
	readonly listening: boolean;
}

export interface ChangeFeedControl {
	feed: PostgresChangeFeed;
	/** A revision seen by this process (local write, peer, NOTIFY, poll): notify if it moved. */
	observe(revision: number): void;
	start(): Promise<void>;
	close(): Promise<void>;
}

const MAX_BACKOFF_MS = 5_000;

/** Same-process stores by schema token: a write in one moves the others' revision at once. */
const localPeers = new Map<string, Set<(revision: number) => void>>();

export function joinLocalPeers(
	token: string,
	observe: (revision: number) => void,
): { publish(r: number): void; leave(): void } {
	let peers = localPeers.get(token);
	if (!peers) {
		peers = new Set();
		localPeers.set(token, peers);
	}
	const set = peers;
	set.add(observe);
	return {
		publish(revision) {
			for (const peer of set) if (peer !== observe) peer(revision);
		},
		leave() {
			set.delete(observe);
			if (set.size === 0) localPeers.delete(token);
		},
	};
}

export function createChangeFeed(
	ctx: PgContext,
	initialRevision: number,
	makeClient: (() => pg.Client) | undefined,
	pollIntervalMs: number,
): ChangeFeedControl {
	const logger: Logger = ctx.logger;
	const channel = changeChannel(ctx.schema);
	const listeners = new Set<() => void>();
	let revision = initialRevision;
	let client: pg.Client | undefined;
	let connected = false;
	let closed = false;
	let timer: ReturnType<typeof setTimeout> | undefined;
	let attempt = 0;

	const notify = () => {
		for (const listener of [...listeners]) {
			try {
				listener();
			} catch (error) {
				// One listener's failure must not starve the others, nor fail the write that triggered it.
				logger.warn("change listener threw", { error: error instanceof Error ? error.message : String(error) });
			}
		}
	};

	const observe = (next: number) => {
		if (!Number.isFinite(next) || next <= revision) return;
		revision = next;
		notify();
	};

	const readRevision = async (): Promise<number> => {
		const [row] = await ctx.query<{ revision: string }>(
			ctx.db,
			`SELECT revision FROM ${ctx.t("auth_change_revision")} WHERE id = 1`,
		);
		return Number(row?.revision ?? 0);
	};

	const schedule = (fn: () => void, ms: number) => {
		if (closed) return;
		timer = setTimeout(fn, ms);
		timer.unref?.();
	};

	const poll = async () => {
		try {
			observe(await readRevision());
		} catch (error) {
			logger.debug("change poll failed", { code: (error as { code?: unknown }).code });
		}
		schedule(() => void poll(), pollIntervalMs);
	};

	const connect = async (): Promise<void> => {
		if (closed || !makeClient) return;
		const next = makeClient();
		client = next;
		// An error event without a handler would crash the process; the end event drives the reconnect.
		next.on("error", (error) => logger.debug("change listener error", { code: (error as { code?: unknown }).code }));
		next.on("notification", (message) => {
			if (message.channel === channel) observe(Number(message.payload));
		});
		next.on("end", () => {
			if (client !== next) return;
			connected = false;
			client = undefined;
			if (!closed) {
				logger.info("change listener disconnected; reconnecting", { schema: ctx.schema });
				reconnectLater();
			}
		});
		try {
			await next.connect();
			await next.query(`LISTEN "${channel}"`);
			connected = true;
			attempt = 0;
			// Whatever happened while we were not listening is covered by one fresh read.
			observe(await readRevision());
		} catch (error) {
			logger.debug("change listener connect failed", { code: (error as { code?: unknown }).code });
			if (client === next) {
				client = undefined;
				connected = false;
				await next.end().catch(() => undefined);
				reconnectLater();
			}
		}
	};

	const reconnectLater = () => {
		const wait = Math.min(50 * 2 ** attempt, MAX_BACKOFF_MS);
		attempt++;
		schedule(() => void connect(), wait);
	};

	const feed: PostgresChangeFeed = {
		revision: () => revision,
		subscribe(listener) {
			ctx.assertOpen("changes.subscribe");
			// Wrapped so the same function subscribed twice gets two independent subscriptions.
			const entry = () => listener();
			listeners.add(entry);
			return () => {
				listeners.delete(entry);
			};
		},
		get listening() {
			return connected;
		},
	};

	return {
		feed,
		observe,
		async start() {
			if (makeClient) await connect();
			else schedule(() => void poll(), pollIntervalMs);
		},
		async close() {
			closed = true;
			listeners.clear();
			if (timer) clearTimeout(timer);
			const current = client;
			client = undefined;
			connected = false;
			await current?.end().catch(() => undefined);
		},
	};
}
