export {
	createZaiPlugin,
	createZaiUsageProvider,
	parseZaiLimits,
	type ZaiEndpoints,
	type ZaiPluginOptions,
	zai,
	zaiWindow,
} from "./zai-plugin";
