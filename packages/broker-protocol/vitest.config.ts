import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("broker-protocol", { isolate: false });
