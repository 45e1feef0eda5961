import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		// Two test files at a time even on 2 cores (vitest's default there is one): most of the long files
		// wait on child processes, servers and timers, so the suite takes about half the wall time.
		maxWorkers: 2,
		projects: ["packages/*/vitest.config.ts", "apps/*/vitest.config.ts"],
	},
});
