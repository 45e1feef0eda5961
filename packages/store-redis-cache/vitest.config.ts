import { authpoolProject } from "../../vitest.shared.ts";

const project = authpoolProject("store-redis-cache", { testTimeout: 30_000 });
// pg is CommonJS and `require`s pg-pool, whose "import" export is an ES module: with the shared
// "import" condition Node would hand pg a module namespace instead of the Pool class.
const conditions = ["@authpool/source", "node", "default"];
export default {
	...project,
	resolve: { ...project.resolve, conditions },
	ssr: { ...project.ssr, resolve: { ...project.ssr?.resolve, conditions } },
};
