export {
	createOllamaCloudPlugin,
	createOllamaPlugin,
	createOllamaUsageProvider,
	ollama,
	ollamaCloud,
} from "./ollama-plugin";
