export * from "./auth-storage";
export * from "./errors";
export * from "./plugin";
export {
	type ConfigValueResolver,
	type CredentialOrigin,
	type CredentialOriginKind,
	createConfigValueResolver,
	envApiKey,
	type FallbackResolver,
} from "./pool/cascade";
export {
	type CredentialDisabledEvent,
	type CredentialDisabledListener,
	type GenerationListener,
	MAX_BUFFERED_DISABLED_EVENTS,
} from "./pool/events";
export * from "./pool/identity";
export {
	type AuthCredentialSnapshot,
	type AuthCredentialSnapshotEntry,
	redactCredential,
	type SnapshotBlock,
} from "./pool/snapshot";
export * from "./refresh/classify";
export * from "./refresh/oauth-http";
export { type PasteCodeLogin, pasteCodeLogin } from "./refresh/oauth-login";
export { createPkcePair, type PkcePair, parseAuthorizationInput } from "./refresh/pkce";
export {
	DEFAULT_MAX_SESSIONS,
	EXPLICIT_PIN_TTL_MS,
	SESSION_PIN_TTL_MS,
	type SessionPin,
	sessionPinKey,
} from "./selection/affinity";
export { type BlockKind, DEFAULT_BLOCK_MS, MAX_BLOCK_MS, providerTypeKey } from "./selection/blocks";
export {
	type AccountPolicy,
	type AccountPolicyOptions,
	type AccountSelectionMode,
	NEAR_TIE_HEADROOM_PCT,
} from "./selection/policy";
export * from "./selection/rank";
export {
	type ApiKeyResolver,
	type ApiKeyResolverInput,
	classifyRequestFailure,
	createApiKeyResolver,
	type RequestFailureKind,
	type ResolverOptions,
	type RetryTarget,
	WITH_AUTH_DEFAULT_ATTEMPTS,
	WITH_AUTH_MAX_ATTEMPTS,
	type WithAuthOptions,
} from "./selection/retry";
export type {
	InvalidateCredentialMatchingOptions,
	MarkUsageLimitOptions,
	RotateSessionOptions,
	UsageLimitMarkResult,
} from "./selection/rotation";
export { drawForSession, headroomPct, rotate, type SelectionOptions, sessionStartIndex } from "./selection/select";
export * from "./store/encryption/index";
export * from "./store/memory-store";
export * from "./store/store";
export { checkStoreInput, plainCopy, storeInputSchemas } from "./store/store-input";
export * from "./types";
export {
	type ClientUsageBucket,
	type ClientUsageQuery,
	type ClientUsageReport,
	type ClientUsageSummary,
	type ClientUsageTotals,
	clientUsageIncrements,
	clientUsageSinceBucket,
	mergeClientUsageBucket,
	type ObservedUsageEntry,
	summarizeClientUsage,
} from "./usage/client-usage";
export * from "./usage/health";
export * from "./usage/report";
export type { ResetCreditAccountStatus, ResetCreditRedeemOutcome, ResetCreditTarget } from "./usage/resets";
export * from "./usage/service";
export * from "./usage/types";
// util/ is internal: only what callers or the built-in plugins need is exported. `sleep` and
// `sha256Hex` are marked @internal (plugins in this repo use them; they may move without notice).
export { sleep } from "./util/abort";
export { sha256Hex, xxHash32 } from "./util/hash";
export { MAX_SESSION_ID_LENGTH, PROVIDER_ID_PATTERN } from "./util/input";
export { redact, redactString } from "./util/redact";
