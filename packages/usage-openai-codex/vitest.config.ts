import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("usage-openai-codex", { isolate: false });
