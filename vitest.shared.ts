import { defineProject } from "vitest/config";

/** Per-package vitest project: tests run on source through the `@authpool/source` export condition. */
export function authpoolProject(name: string, extra: { testTimeout?: number; include?: string[] } = {}) {
	return defineProject({
		resolve: { conditions: ["@authpool/source", "import", "module", "node", "default"] },
		ssr: { resolve: { conditions: ["@authpool/source", "import", "module", "node", "default"] } },
		test: {
			name,
			environment: "node",
			include: extra.include ?? ["src/**/*.test.ts", "test/**/*.test.ts"],
			testTimeout: extra.testTimeout ?? 20_000,
		},
	});
}
