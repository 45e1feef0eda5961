/**
 * The O(1) change check on the hot path of every `getApiKey`. `PRAGMA data_version` moves whenever
 * another connection (any process) committed; only then, or after a local write, is the revision
 * row read. The revision row itself is bumped by triggers on the credential and block tables, so
 * cache writes (pins, usage reports) never make peers reload.
 *
 * `subscribe` is built on the same check: local writes notify right after they commit, and peers'
 * writes are noticed by a timer (unref'd, only while someone listens) that runs the check.
 */
import type { ChangeFeed, Logger } from "@authpool/core";
import type { SqliteContext } from "./sqlite-context";

export interface SqliteChangeFeed extends ChangeFeed {
	revision(): number;
	subscribe(listener: () => void): () => void;
	/** Run the check and notify listeners if the revision moved (after local writes, from the timer). */
	poll(): void;
	stop(): void;
}

export function createSqliteChangeFeed(ctx: SqliteContext, watchIntervalMs: number): SqliteChangeFeed {
	const dataVersion = ctx.db.prepare("PRAGMA data_version").pluck();
	const readRevision = ctx.db.prepare("SELECT revision FROM auth_change_revision WHERE id = 1").pluck();
	const listeners = new Set<() => void>();
	let lastDataVersion = Number.NaN;
	let revision = 0;
	let notifiedRevision = Number.NaN;
	let timer: ReturnType<typeof setInterval> | undefined;

	const revisionNow = (): number =>
		ctx.readSync("changes.revision", () => {
			const version = dataVersion.get() as number;
			if (version !== lastDataVersion || ctx.localChange) {
				ctx.localChange = false;
				lastDataVersion = version;
				revision = readRevision.get() as number;
			}
			return revision;
		});

	const notify = (logger: Logger) => {
		for (const listener of [...listeners]) {
			try {
				listener();
			} catch (error) {
				// One listener's failure must not starve the others, nor fail the write that triggered it.
				logger.warn("change listener threw", { error: error instanceof Error ? error.message : String(error) });
			}
		}
	};

	const feed: SqliteChangeFeed = {
		revision: revisionNow,
		subscribe(listener) {
			ctx.assertOpen("changes.subscribe");
			// Wrapped so the same function subscribed twice gets two independent subscriptions.
			const entry = () => listener();
			listeners.add(entry);
			if (Number.isNaN(notifiedRevision)) notifiedRevision = revisionNow();
			if (!timer && watchIntervalMs > 0) {
				timer = setInterval(() => feed.poll(), watchIntervalMs);
				timer.unref?.();
			}
			return () => {
				listeners.delete(entry);
				if (listeners.size === 0) feed.stop();
			};
		},
		poll() {
			if (listeners.size === 0 || ctx.closed) return;
			let current: number;
			try {
				current = revisionNow();
			} catch (error) {
				ctx.logger.warn("change check failed", { error: error instanceof Error ? error.message : String(error) });
				return;
			}
			if (current === notifiedRevision) return;
			notifiedRevision = current;
			notify(ctx.logger);
		},
		stop() {
			if (timer) clearInterval(timer);
			timer = undefined;
			notifiedRevision = Number.NaN;
		},
	};
	return feed;
}
