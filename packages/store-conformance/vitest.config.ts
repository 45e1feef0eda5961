import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("store-conformance", { isolate: false });
