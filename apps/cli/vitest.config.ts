import { authpoolProject } from "../../vitest.shared.ts";

// The end-to-end tests spawn the built bin; on a loaded machine each spawn can take a second or two.
export default authpoolProject("cli", { testTimeout: 60_000 });
