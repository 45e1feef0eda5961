import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("usage-template", { isolate: false });
