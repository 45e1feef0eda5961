export { raceSignal, sleep, withTimeout } from "./abort";
export { DEFAULT_MAX_SESSIONS, SESSION_PIN_TTL_MS, type SessionPin, sessionPinKey } from "./affinity";
export * from "./auth-storage";
export { type BlockKind, DEFAULT_BLOCK_MS, MAX_BLOCK_MS, providerTypeKey } from "./blocks";
export {
	type ConfigValueResolver,
	type CredentialOrigin,
	type CredentialOriginKind,
	createConfigValueResolver,
	envApiKey,
	type FallbackResolver,
} from "./cascade";
export * from "./classify";
export * from "./errors";
export {
	type CredentialDisabledEvent,
	type CredentialDisabledListener,
	type GenerationListener,
	MAX_BUFFERED_DISABLED_EVENTS,
} from "./events";
export * from "./hash";
export * from "./health";
export * from "./identity";
export { LruMap } from "./lru";
export * from "./memory-store";
export * from "./oauth-http";
export { type PasteCodeLogin, pasteCodeLogin } from "./oauth-login";
export { createPkcePair, type PkcePair, parseAuthorizationInput } from "./pkce";
export * from "./plugin";
export * from "./rank";
export * from "./redact";
export type { ResetCreditAccountStatus, ResetCreditRedeemOutcome, ResetCreditTarget } from "./resets";
export {
	type ApiKeyResolver,
	type ApiKeyResolverInput,
	createApiKeyResolver,
	type ResolverOptions,
	type RetryTarget,
} from "./retry";
export type {
	InvalidateCredentialMatchingOptions,
	MarkUsageLimitOptions,
	RotateSessionOptions,
	UsageLimitMarkResult,
} from "./rotation";
export { drawForSession, rotate, type SelectionOptions, sessionStartIndex } from "./select";
export {
	type AuthCredentialSnapshot,
	type AuthCredentialSnapshotEntry,
	redactCredential,
	type SnapshotBlock,
} from "./snapshot";
export * from "./store";
export { checkStoreInput, storeInputSchemas } from "./store-input";
export * from "./types";
export * from "./usage/report";
export * from "./usage/service";
export * from "./usage/types";
