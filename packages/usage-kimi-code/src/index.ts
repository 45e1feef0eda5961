export { abortableWait, type KimiLoginConfig, type KimiPollWait, loginKimiWithDeviceCode } from "./kimi-login";
export {
	createKimiPlugin,
	KIMI_CLIENT_ID,
	type KimiEndpoints,
	type KimiPluginOptions,
	kimiCode,
	kimiCommonHeaders,
} from "./kimi-plugin";
export { createKimiUsageProvider, parseKimiUsage } from "./kimi-usage";
