import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("usage-anthropic", { isolate: false });
