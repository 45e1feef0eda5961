import { defineConfig } from "tsup";

/** One build config for every package: ESM + d.ts from src/index.ts. */
export default defineConfig({
	entry: ["src/index.ts"],
	format: ["esm"],
	dts: { compilerOptions: { composite: false, customConditions: [] } },
	clean: true,
	sourcemap: true,
	target: "node20",
	platform: "node",
});
