/**
 * Client-observed usage on its way to the broker: reports are merged in memory (per install, app,
 * provider, model and hour, counts added) and sent every `flushMs` as `POST /v1/usage/observed`, at most
 * 1,000 entries a call. A send that failed on the way (network, 5xx, 429) keeps its entries for the next
 * flush; one the broker refused (400, 403, 413) drops them; a broker without the route or without a
 * store that keeps client usage (404, 501) stops the batcher, said once. The buffer is bounded: beyond
 * `maxEntries` merged entries, new ones are dropped (counted in the next flush's warning).
 */
import type { ClientUsageReport, ObservedUsageEntry } from "@authpool/core";

const HOUR_MS = 3_600_000;
const MAX_ENTRIES_PER_CALL = 1000;

type Level = "debug" | "info" | "warn" | "error";

export interface ObservedUsageBatcherOptions {
	flushMs: number;
	maxEntries: number;
	send(report: ClientUsageReport): Promise<void>;
	/** What a failed send means: try again later, drop these entries, or stop sending at all. */
	classify(error: unknown): "retry" | "drop" | "stop";
	log(level: Level, message: string, fields?: Record<string, unknown>): void;
}

interface Group {
	installId: string;
	hostname?: string;
	app?: string;
	entries: Map<string, ObservedUsageEntry>;
}

export class ObservedUsageBatcher {
	readonly #o: ObservedUsageBatcherOptions;
	readonly #groups = new Map<string, Group>();
	#size = 0;
	#dropped = 0;
	#stopped = false;
	#timer: ReturnType<typeof setTimeout> | undefined;
	#flushing: Promise<void> | undefined;

	constructor(options: ObservedUsageBatcherOptions) {
		this.#o = options;
	}

	/** Merged entries waiting to be sent. */
	get pending(): number {
		return this.#size;
	}

	add(report: ClientUsageReport): void {
		if (this.#stopped) return;
		const groupKey = JSON.stringify([report.installId, report.hostname ?? null, report.app ?? null]);
		let group = this.#groups.get(groupKey);
		if (!group) {
			group = {
				installId: report.installId,
				...(report.hostname !== undefined ? { hostname: report.hostname } : {}),
				...(report.app !== undefined ? { app: report.app } : {}),
				entries: new Map(),
			};
			this.#groups.set(groupKey, group);
		}
		for (const entry of report.entries) this.#merge(group, entry);
		this.#schedule();
	}

	/** Send everything buffered now (joins a flush in flight). */
	flush(): Promise<void> {
		this.#flushing ??= this.#send().finally(() => {
			this.#flushing = undefined;
		});
		return this.#flushing;
	}

	/** Stop the timer; a last flush is the caller's (`flush()` before `close()`). */
	close(): void {
		this.#stopped = true;
		if (this.#timer) clearTimeout(this.#timer);
		this.#timer = undefined;
	}

	#readd(group: Group, entries: ObservedUsageEntry[]): void {
		const { entries: _sent, ...identity } = group;
		this.add({ ...identity, entries });
	}

	#merge(group: Group, entry: ObservedUsageEntry): void {
		const key = JSON.stringify([entry.provider, entry.model, Math.floor(entry.at / HOUR_MS)]);
		const current = group.entries.get(key);
		if (current) {
			current.at = Math.max(current.at, entry.at);
			current.requests += entry.requests;
			current.inputTokens += entry.inputTokens;
			current.outputTokens += entry.outputTokens;
			current.cacheReadTokens += entry.cacheReadTokens;
			current.cacheWriteTokens += entry.cacheWriteTokens;
			current.costUsd += entry.costUsd;
			return;
		}
		if (this.#size >= this.#o.maxEntries) {
			this.#dropped += 1;
			return;
		}
		group.entries.set(key, { ...entry });
		this.#size += 1;
	}

	#schedule(): void {
		if (this.#timer || this.#stopped || this.#size === 0) return;
		this.#timer = setTimeout(() => {
			this.#timer = undefined;
			void this.flush();
		}, this.#o.flushMs);
		this.#timer.unref?.();
	}

	async #send(): Promise<void> {
		if (this.#dropped > 0) {
			this.#o.log("warn", "observed usage dropped: the buffer is full (the broker is unreachable?)", {
				dropped: this.#dropped,
			});
			this.#dropped = 0;
		}
		const groups = [...this.#groups.values()];
		this.#groups.clear();
		this.#size = 0;
		for (const [index, group] of groups.entries()) {
			const entries = [...group.entries.values()];
			for (let start = 0; start < entries.length; start += MAX_ENTRIES_PER_CALL) {
				const chunk = entries.slice(start, start + MAX_ENTRIES_PER_CALL);
				try {
					await this.#o.send({
						installId: group.installId,
						...(group.hostname !== undefined ? { hostname: group.hostname } : {}),
						...(group.app !== undefined ? { app: group.app } : {}),
						entries: chunk,
					});
				} catch (error) {
					const verdict = this.#o.classify(error);
					const fields = { error: error instanceof Error ? error.message : String(error) };
					if (verdict === "stop") {
						this.#o.log("warn", "the broker does not take observed usage; no more will be sent", fields);
						this.close();
						this.#groups.clear();
						this.#size = 0;
						return;
					}
					if (verdict === "drop") {
						this.#o.log("warn", "the broker refused observed usage; those entries are dropped", {
							...fields,
							entries: chunk.length,
						});
						continue;
					}
					// Keep what was not sent (this chunk on, and the groups after it) for the next flush.
					this.#readd(group, entries.slice(start));
					for (const rest of groups.slice(index + 1)) this.#readd(rest, [...rest.entries.values()]);
					this.#o.log("debug", "observed usage not sent; kept for the next flush", {
						error: error instanceof Error ? error.message : String(error),
					});
					return;
				}
			}
		}
	}
}
