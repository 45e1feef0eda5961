import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("usage-zai", { isolate: false });
