import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("broker", { testTimeout: 30_000 });
