import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("usage-google-antigravity", { isolate: false });
