import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("fake-provider", { isolate: false });
