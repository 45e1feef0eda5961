import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("core", { isolate: false });
