import { defineConfig } from "tsup";

/**
 * One build config for every package: ESM from src/index.ts. Declarations are not built here: `tsc -b`
 * emits them once (it typechecks anyway) and scripts/build-dts.mjs rolls them up into dist/.
 */
export default defineConfig({
	entry: ["src/index.ts"],
	format: ["esm"],
	dts: false,
	clean: true,
	sourcemap: true,
	target: "node20",
	platform: "node",
});
