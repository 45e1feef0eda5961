import { authpoolProject } from "../../vitest.shared.ts";

export default authpoolProject("usage-google-gemini-cli", { isolate: false });
