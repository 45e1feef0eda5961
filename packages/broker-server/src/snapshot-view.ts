/** The wire view of `AuthStorage.exportSnapshot()` for one caller: provider filter, capabilities, rotation ETA. */

import type { RefresherInfo, SnapshotResponse, WireSnapshotBlock, WireSnapshotEntry } from "@authpool/broker-protocol";
import type { AuthCredentialSnapshot, AuthCredentialSnapshotEntry } from "@authpool/core";
import type { BrokerPrincipal } from "./tokens";

export interface RefresherSchedule {
	enabled: boolean;
	intervalMs: number;
	skewMs: number;
	/** Epoch ms of the next sweep. */
	nextSweepAt: number;
}

export function refresherInfo(schedule: RefresherSchedule, now: number): RefresherInfo {
	if (!schedule.enabled) return { enabled: false, intervalMs: 0, skewMs: 0, nextSweepInMs: 0 };
	return {
		enabled: true,
		intervalMs: schedule.intervalMs,
		skewMs: schedule.skewMs,
		nextSweepInMs: Math.max(0, schedule.nextSweepAt - now),
	};
}

/**
 * When the background refresher will rotate the row: the first sweep at or after `expires - skewMs`
 * (0 when already due); `null` without a refresher or a finite expiry.
 */
export function rotatesInMs(
	entry: AuthCredentialSnapshotEntry,
	schedule: RefresherSchedule,
	now: number,
): number | null {
	const credential = entry.credential;
	if (!schedule.enabled || credential.type !== "oauth" || !Number.isFinite(credential.expires)) return null;
	const due = credential.expires - schedule.skewMs;
	if (due <= now) return 0;
	const first = Math.max(schedule.nextSweepAt, now);
	const sweeps = due <= first ? 0 : Math.ceil((due - first) / schedule.intervalMs);
	return Math.max(0, Math.round(first + sweeps * schedule.intervalMs - now));
}

/** Scoped blocks collapsed into one whole-credential block per provider key (latest deadline wins). */
function collapseBlocks(blocks: WireSnapshotBlock[]): WireSnapshotBlock[] {
	const byKey = new Map<string, WireSnapshotBlock>();
	for (const block of blocks) {
		const current = byKey.get(block.providerKey);
		if (!current || block.blockedUntilMs > current.blockedUntilMs) {
			byKey.set(block.providerKey, { ...block, blockScope: "" });
		}
	}
	return [...byKey.values()];
}

export function visibleTo(principal: BrokerPrincipal, provider: string): boolean {
	return principal.providers === null || principal.providers.has(provider);
}

export function wireEntry(
	entry: AuthCredentialSnapshotEntry,
	schedule: RefresherSchedule,
	now: number,
	blockScopes: boolean,
): WireSnapshotEntry {
	const blocks = entry.blocks as WireSnapshotBlock[];
	return {
		id: entry.id,
		provider: entry.provider,
		credential: entry.credential as WireSnapshotEntry["credential"],
		identityKey: entry.identityKey,
		rotatesInMs: rotatesInMs(entry, schedule, now),
		blocks: blockScopes ? blocks : collapseBlocks(blocks),
	};
}

export function wireSnapshot(
	snapshot: AuthCredentialSnapshot,
	instanceId: string,
	principal: BrokerPrincipal,
	schedule: RefresherSchedule,
	now: number,
	blockScopes: boolean,
): SnapshotResponse {
	return {
		instanceId,
		generation: snapshot.generation,
		generatedAt: snapshot.generatedAt,
		serverNowMs: now,
		refresher: refresherInfo(schedule, now),
		credentials: snapshot.credentials
			.filter((entry) => visibleTo(principal, entry.provider))
			.map((entry) => wireEntry(entry, schedule, now, blockScopes)),
	};
}
