import { defineProject } from "vitest/config";

/**
 * Per-package vitest project: tests run on source through the `@authpool/source` export condition.
 * `isolate: false` lets a worker reuse loaded modules across the package's test files (about half the
 * time of a unit-test package); only for packages whose tests keep no module-level state between files.
 */
export function authpoolProject(
	name: string,
	extra: { testTimeout?: number; include?: string[]; isolate?: boolean } = {},
) {
	return defineProject({
		resolve: { conditions: ["@authpool/source", "import", "module", "node", "default"] },
		ssr: { resolve: { conditions: ["@authpool/source", "import", "module", "node", "default"] } },
		test: {
			name,
			environment: "node",
			include: extra.include ?? ["src/**/*.test.ts", "test/**/*.test.ts"],
			testTimeout: extra.testTimeout ?? 20_000,
			isolate: extra.isolate ?? true,
		},
	});
}
