export * from "./describe-oauth-refresh";
export * from "./describe-pool-rotation";
export { KIT_NOW, kitClock } from "./fake-lifecycle";
export type {
	KitClock,
	KitCore,
	KitOAuthCredential,
	KitPluginContext,
	KitPoolStorage,
	KitRefreshErrorClass,
	KitRefreshPlugin,
	KitRefreshResult,
	KitStorageOptions,
} from "./types";
