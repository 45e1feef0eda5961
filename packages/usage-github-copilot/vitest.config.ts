import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("usage-github-copilot", { isolate: false });
