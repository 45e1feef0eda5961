export {
	type AcmeEndpoints,
	type AcmePluginOptions,
	acmeRankingStrategy,
	createAcmePlugin,
	parseAcmeUsage,
} from "./template-plugin";
