export {
	buildOpencodeGoReport,
	createOpencodeGoPlugin,
	OPENCODE_GO_WINDOWS,
	type OpencodeGoWindow,
	opencodeGo,
	opencodeGoUsageProvider,
} from "./opencode-go-plugin";
