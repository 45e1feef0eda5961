import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("broker-server", { testTimeout: 30_000 });
