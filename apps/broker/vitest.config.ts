import { authpoolProject } from "../../vitest.shared.ts";

const project = authpoolProject("broker", { testTimeout: 30_000 });
// The app loads pg (through @authpool/store-postgres); pg is CommonJS and `require`s pg-pool, whose
// "import" export is an ES module, so the shared "import" condition would break it (as in store-postgres).
const conditions = ["@authpool/source", "node", "default"];
export default {
	...project,
	resolve: { ...project.resolve, conditions },
	ssr: { ...project.ssr, resolve: { ...project.ssr?.resolve, conditions } },
};
