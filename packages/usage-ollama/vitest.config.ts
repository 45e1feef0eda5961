import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("usage-ollama", { isolate: false });
