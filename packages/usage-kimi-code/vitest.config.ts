import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("usage-kimi-code", { isolate: false });
