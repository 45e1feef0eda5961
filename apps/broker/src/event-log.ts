/**
 * A bounded, in-memory log of what happened to the pool's accounts, fed by `AuthStorage`'s event hooks
 * (`onCredentialDisabled`, `onGenerationChanged`) and by diffing the loaded rows and blocks (a refresh
 * shows as a new row version with a new access token; a block as a new or longer block).
 */
import { createHash } from "node:crypto";
import type { AuthStorage } from "@authpool/core";
import { labelOf } from "./dashboard-state";

export type DashboardEventKind = "added" | "refreshed" | "updated" | "disabled" | "removed" | "blocked" | "unblocked";

export interface DashboardEvent {
	/** Increasing per process. */
	seq: number;
	kind: DashboardEventKind;
	/** Epoch ms. */
	at: number;
	provider: string;
	credentialId: number;
	label: string;
	/** Disable cause, or the block's end for `blocked`. */
	detail?: string;
	until?: number;
}

export interface EventLog {
	/** Oldest first. */
	recent(): DashboardEvent[];
	/** Diff the loaded rows and blocks against the last look; records what changed. */
	observe(): void;
	subscribe(listener: (event: DashboardEvent) => void): () => void;
	close(): void;
}

interface RowLook {
	version: number;
	expires?: number;
	/** Short digest of the access token: a new one means a refresh (the token itself is not kept). */
	accessDigest?: string;
	label: string;
	provider: string;
}

/** @param capacity events kept (oldest dropped first). */
export function createEventLog(storage: AuthStorage, options: { capacity: number; now: () => number }): EventLog {
	const events: DashboardEvent[] = [];
	const listeners = new Set<(event: DashboardEvent) => void>();
	let seq = 0;
	let rows = new Map<number, RowLook>();
	let blocks = new Map<number, number>();
	const reportedDisabled = new Set<number>();
	let missing = new Map<number, { provider: string; label: string }>();
	let primed = false;

	const push = (event: Omit<DashboardEvent, "seq" | "at"> & { at?: number }) => {
		seq += 1;
		const full: DashboardEvent = { ...event, seq, at: event.at ?? options.now() };
		events.push(full);
		if (events.length > options.capacity) events.shift();
		for (const listener of [...listeners]) {
			try {
				listener(full);
			} catch {
				// A broken subscriber (a closed stream) must not stop the others.
			}
		}
	};

	const observe = () => {
		const next = new Map<number, RowLook>();
		for (const row of storage.listStoredCredentials()) {
			next.set(row.id, {
				version: row.version,
				expires: row.credential.type === "oauth" ? row.credential.expires : undefined,
				accessDigest:
					row.credential.type === "oauth"
						? createHash("sha256").update(row.credential.access).digest("base64url").slice(0, 12)
						: undefined,
				label: labelOf(row),
				provider: row.provider,
			});
		}
		const nextBlocks = new Map<number, number>();
		for (const entry of storage.exportSnapshot().credentials) {
			const until = Math.max(0, ...entry.blocks.map((block) => block.blockedUntilMs));
			if (until > options.now()) nextBlocks.set(entry.id, until);
		}
		if (primed) {
			for (const [id, look] of next) {
				const before = rows.get(id);
				const base = { provider: look.provider, credentialId: id, label: look.label };
				if (!before) push({ ...base, kind: "added" });
				else if (before.version !== look.version) {
					const refreshed = look.accessDigest !== undefined && look.accessDigest !== before.accessDigest;
					push({ ...base, kind: refreshed ? "refreshed" : "updated", until: refreshed ? look.expires : undefined });
				}
				const until = nextBlocks.get(id);
				const beforeUntil = blocks.get(id);
				if (until !== undefined && (beforeUntil === undefined || until > beforeUntil)) {
					push({ ...base, kind: "blocked", until });
				} else if (until === undefined && beforeUntil !== undefined) {
					push({ ...base, kind: "unblocked" });
				}
			}
			// A row gone without a disable event by the next look was removed (or disabled by another process).
			for (const [id, look] of missing) {
				if (!reportedDisabled.has(id) && !next.has(id)) push({ ...look, credentialId: id, kind: "removed" });
			}
			missing = new Map();
			for (const [id, look] of rows) {
				if (!next.has(id) && !reportedDisabled.has(id)) missing.set(id, { provider: look.provider, label: look.label });
			}
		}
		rows = next;
		blocks = nextBlocks;
		primed = true;
	};

	observe();
	const offDisabled = storage.onCredentialDisabled((event) => {
		reportedDisabled.add(event.credentialId);
		push({
			kind: "disabled",
			at: event.at,
			provider: event.provider,
			credentialId: event.credentialId,
			label: event.email ?? event.accountId ?? rows.get(event.credentialId)?.label ?? `account #${event.credentialId}`,
			detail: event.disabledCause,
		});
	});
	const offGeneration = storage.onGenerationChanged(() => observe());

	return {
		recent: () => [...events],
		observe,
		subscribe(listener) {
			listeners.add(listener);
			return () => {
				listeners.delete(listener);
			};
		},
		close() {
			offDisabled();
			offGeneration();
			listeners.clear();
		},
	};
}
