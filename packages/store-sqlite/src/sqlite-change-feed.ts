/**
 * The O(1) change check on the hot path of every `getApiKey`. `PRAGMA data_version` moves whenever
 * another connection (any process) committed; only then, or after a local write, is the revision
 * row read. The revision row itself is bumped by triggers on the credential and block tables, so
 * cache writes (pins, usage reports) never make peers reload.
 *
 * Cheaper still, before the pragma: in WAL mode every commit, by any connection of any process, rewrites
 * the wal-index header at the start of the `-shm` file (the documented WAL-index format,
 * https://www.sqlite.org/walformat.html). One 96-byte `pread` of it costs about 40 % of the pragma;
 * only when those bytes moved does the pragma run. The file cannot disappear under us: SQLite deletes
 * `-shm` only when the last connection closes, and ours stays open. Without a `-shm` (in-memory
 * database, an injected connection not in WAL mode, exclusive locking) the pragma runs on every check.
 *
 * `subscribe` is built on the same check: local writes notify right after they commit, and peers'
 * writes are noticed by a timer (unref'd, only while someone listens) that runs the check.
 */
import { closeSync, openSync, readSync } from "node:fs";
import type { ChangeFeed, Logger } from "@authpool/core";
import type { SqliteContext } from "./sqlite-context";

export interface SqliteChangeFeed extends ChangeFeed {
	revision(): number;
	subscribe(listener: () => void): () => void;
	/** Run the check and notify listeners if the revision moved (after local writes, from the timer). */
	poll(): void;
	/** Stop notifying listeners (the last one left). */
	stop(): void;
	/** Release everything (the store closes). */
	close(): void;
}

/** Size of the two copies of the wal-index header at the start of `-shm`. */
const WAL_INDEX_HEADER_BYTES = 96;

/**
 * A reader of the wal-index header, or `undefined` when there is no `-shm` to read. `changed()` answers
 * whether the header differs from the previous call's (true on the first call).
 */
function walIndexWatcher(ctx: SqliteContext): { changed(): boolean; close(): void } | undefined {
	const file = ctx.db.name;
	if (ctx.db.memory || !file || ctx.db.pragma("journal_mode", { simple: true }) !== "wal") return undefined;
	let fd: number;
	try {
		fd = openSync(`${file}-shm`, "r");
	} catch {
		return undefined;
	}
	let previous = Buffer.alloc(WAL_INDEX_HEADER_BYTES);
	let current = Buffer.alloc(WAL_INDEX_HEADER_BYTES);
	let first = true;
	return {
		changed() {
			const read = readSync(fd, current, 0, WAL_INDEX_HEADER_BYTES, 0);
			const moved = first || read !== WAL_INDEX_HEADER_BYTES || !current.equals(previous);
			first = false;
			[previous, current] = [current, previous];
			return moved;
		},
		close() {
			closeSync(fd);
		},
	};
}

export function createSqliteChangeFeed(ctx: SqliteContext, watchIntervalMs: number): SqliteChangeFeed {
	let dataVersion = ctx.db.prepare("PRAGMA data_version").pluck();
	let walIndex = walIndexWatcher(ctx);
	let readRevision = ctx.db.prepare("SELECT revision FROM auth_change_revision WHERE id = 1").pluck();
	ctx.afterReopen = () => {
		walIndex?.close();
		dataVersion = ctx.db.prepare("PRAGMA data_version").pluck();
		walIndex = walIndexWatcher(ctx);
		readRevision = ctx.db.prepare("SELECT revision FROM auth_change_revision WHERE id = 1").pluck();
		lastDataVersion = Number.NaN;
		// Listeners reload from the new file.
		feed.poll();
	};
	const listeners = new Set<() => void>();
	let lastDataVersion = Number.NaN;
	let revision = 0;
	let notifiedRevision = Number.NaN;
	let timer: ReturnType<typeof setInterval> | undefined;

	const revisionNow = (): number =>
		ctx.readSync("changes.revision", () => {
			ctx.checkFile();
			if (ctx.reopening) return revision;
			// Nothing committed anywhere since the last check, and no local write: the revision stands.
			if (walIndex && !walIndex.changed() && !ctx.localChange) return revision;
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
		close() {
			feed.stop();
			walIndex?.close();
		},
	};
	return feed;
}
