/**
 * Test fixtures for the pool tests (not exported from the package): a manual clock, fake OAuth
 * plugins with counted, rotating refreshes, and a store proxy that counts every call.
 */
import { OAuthRefreshError } from "./errors";
import type { OAuthRefreshResult, ProviderPlugin } from "./plugin";
import type { AuthCredentialStore } from "./store/store";
import type { OAuthCredential } from "./types";
import type { CredentialRankingStrategy, UsageProvider } from "./usage/types";

export const HOUR = 3_600_000;
export const T0 = Date.UTC(2025, 0, 1);

export interface ManualClock {
	now(): number;
	advance(ms: number): void;
	set(ms: number): void;
}

export function manualClock(start = T0): ManualClock {
	let now = start;
	return {
		now: () => now,
		advance: (ms) => {
			now += ms;
		},
		set: (ms) => {
			now = ms;
		},
	};
}

/** An OAuth credential for `email`, valid for an hour from `now` unless `expires` says otherwise. */
export function oauth(email: string, now: number, overrides: Partial<OAuthCredential> = {}): OAuthCredential {
	return {
		type: "oauth",
		access: `access-${email}-0`,
		refresh: `refresh-${email}-0`,
		expires: now + HOUR,
		email,
		...overrides,
	};
}

export interface FakeOAuthPlugin extends ProviderPlugin {
	/** Number of upstream refresh calls. */
	refreshCalls: number;
	/** Replace the refresh behaviour. */
	refreshImpl: (credential: OAuthCredential) => Promise<OAuthRefreshResult>;
}

/**
 * A plugin whose refresh rotates both tokens (`access-<email>-<n>`) and answers `invalid_grant` to a
 * refresh token it already consumed, like a real rotating provider.
 */
export function fakeOAuthPlugin(
	id: string,
	clock: { now(): number },
	extra: { ranking?: CredentialRankingStrategy; usage?: UsageProvider; envApiKeys?: string[] } = {},
): FakeOAuthPlugin {
	const consumed = new Set<string>();
	let counter = 0;
	const plugin: FakeOAuthPlugin = {
		id,
		...(extra.envApiKeys ? { envApiKeys: extra.envApiKeys } : {}),
		...(extra.ranking ? { ranking: extra.ranking } : {}),
		...(extra.usage ? { usage: extra.usage } : {}),
		refreshCalls: 0,
		refreshImpl: async (credential) => {
			if (consumed.has(credential.refresh)) {
				throw new OAuthRefreshError(`${id} refresh failed: invalid_grant`, {
					provider: id,
					definitive: true,
					errorCode: "invalid_grant",
					status: 400,
				});
			}
			consumed.add(credential.refresh);
			counter += 1;
			const who = credential.email ?? "anon";
			return {
				access: `access-${who}-r${counter}`,
				refresh: `refresh-${who}-r${counter}`,
				expires: clock.now() + HOUR,
			};
		},
		oauth: {
			rotatesRefreshToken: true,
			refresh: (credential) => {
				plugin.refreshCalls += 1;
				return plugin.refreshImpl(credential);
			},
		},
	};
	return plugin;
}

export type CallCounts = Record<string, number>;

const READS = new Set(["listActive", "listDisabled", "get", "list"]);

/**
 * Wrap a store so every call on rows/cache/blocks/leases/ledger/changes is counted as
 * `part.method`. `reads()`/`writes()` summarize (revision() is neither).
 */
export function countingStore(store: AuthCredentialStore): {
	store: AuthCredentialStore;
	counts: CallCounts;
	reset(): void;
	reads(): number;
	writes(): number;
} {
	const counts: CallCounts = {};
	const parts = ["rows", "cache", "blocks", "leases", "ledger", "changes", "settings"] as const;
	const wrapped = new Proxy(store, {
		get(target, property, receiver) {
			const value = Reflect.get(target, property, receiver);
			if (typeof property === "string" && (parts as readonly string[]).includes(property) && value) {
				return new Proxy(value as object, {
					get(partTarget, method, partReceiver) {
						const fn = Reflect.get(partTarget, method, partReceiver);
						if (typeof fn !== "function" || typeof method !== "string") return fn;
						return (...args: unknown[]) => {
							const key = `${property}.${method}`;
							counts[key] = (counts[key] ?? 0) + 1;
							return (fn as (...a: unknown[]) => unknown).apply(partTarget, args);
						};
					},
				});
			}
			return value;
		},
	});
	const sum = (predicate: (part: string, method: string) => boolean) =>
		Object.entries(counts).reduce((total, [key, n]) => {
			const [part, method] = key.split(".") as [string, string];
			return predicate(part, method) ? total + n : total;
		}, 0);
	return {
		store: wrapped,
		counts,
		reset: () => {
			for (const key of Object.keys(counts)) delete counts[key];
		},
		reads: () => sum((part, method) => part !== "changes" && (READS.has(method) || method.startsWith("list"))),
		writes: () => sum((part, method) => part !== "changes" && !READS.has(method) && !method.startsWith("list")),
	};
}
