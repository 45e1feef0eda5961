/**
 * Structural stand-ins for the `@authpool/core` types the plugin kits touch. The fake provider has no
 * dependency on core, so a plugin's real `ProviderPlugin` / `AuthStorage` are accepted by shape.
 */
import type { FakeAccount, FakeProvider, FakeProviderOptions } from "../types";

/** A clock in epoch ms, as core's `Clock`. */
export interface KitClock {
	now(): number;
}

/** An OAuth credential as core stores it (`type: "oauth"` plus provider extras). */
export interface KitOAuthCredential {
	type: "oauth";
	access: string;
	refresh: string;
	expires: number;
	[extra: string]: unknown;
}

/** What `oauth.refresh` resolves to, as core's `OAuthRefreshResult`. */
export interface KitRefreshResult {
	access: string;
	refresh?: string;
	expires: number;
	[extra: string]: unknown;
}

/** The context `oauth.refresh` receives, as core's `PluginContext`. */
export interface KitPluginContext {
	fetch: typeof globalThis.fetch;
	clock: KitClock;
	logger: {
		debug(message: string, fields?: Record<string, unknown>): void;
		info(message: string, fields?: Record<string, unknown>): void;
		warn(message: string, fields?: Record<string, unknown>): void;
		error(message: string, fields?: Record<string, unknown>): void;
	};
	env: Record<string, string | undefined>;
	signal: AbortSignal;
}

/** The part of a provider plugin the OAuth refresh kit drives. */
export interface KitRefreshPlugin {
	oauth?: {
		refresh(credential: KitOAuthCredential, context: KitPluginContext): Promise<KitRefreshResult>;
	};
}

/** The refresh error class's shape, as core's `OAuthRefreshError` (passed in: the kit cannot import core). */
export interface KitRefreshErrorClass {
	isInstance(value: unknown): boolean;
}

/** The fields of core's `OAuthRefreshError` the kit asserts on. */
export interface KitRefreshError {
	message: string;
	definitive: boolean;
	status?: number;
	errorCode?: string;
}

/** The `AuthStorage` methods the pool kit calls. */
export interface KitPoolStorage {
	reload(): Promise<void>;
	close(): Promise<void>;
	set(provider: string, credential: never): Promise<void>;
	getApiKey(provider: string, sessionId?: string, options?: { modelId?: string }): Promise<string | undefined>;
	markUsageLimitReached(
		provider: string,
		sessionId: string | undefined,
		options?: { retryAfterMs?: number; modelId?: string },
	): Promise<unknown>;
	listStoredCredentials(provider?: string): ReadonlyArray<{ credential: { type: string } }>;
}

/** The options the pool kit builds an `AuthStorage` with (`P`: the plugin type). */
export interface KitStorageOptions<P> {
	providers: readonly P[];
	clock: KitClock;
	env: Record<string, string | undefined>;
	fetch: typeof globalThis.fetch;
	random?: () => number;
}

/**
 * Core's `AuthStorage` class and `createMemoryStore`, handed to the pool kit by the test file
 * (`S`: the storage, `P`: the plugin, `M`: the store type).
 */
export interface KitCore<S extends KitPoolStorage, P, M> {
	AuthStorage: new (store: M, options: KitStorageOptions<P>) => S;
	createMemoryStore(options: { clock: KitClock }): M;
}

/** How a kit starts its own fake provider. */
export interface KitFakeOptions {
	/** Extra options for `startFakeProvider` (`now` always comes from the kit's clock). */
	fakeOptions?: Omit<FakeProviderOptions, "now">;
}

export type { FakeAccount, FakeProvider };
