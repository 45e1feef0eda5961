import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("usage-opencode-go", { isolate: false });
