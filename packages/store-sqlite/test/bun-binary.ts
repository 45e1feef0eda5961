/**
 * Test helper: the Bun executable the Bun runs use, found or installed by the repo's
 * `scripts/bun/find-bun.mjs` (`AUTHPOOL_BUN`, the repo's `.tmp/bun`, `bun` on PATH, else
 * `npm i --prefix .tmp/bun bun@1`). A Bun that cannot be found or installed throws: the Bun tests
 * fail, they never skip.
 */
import { execFile, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const FIND_BUN = fileURLToPath(new URL("../../../scripts/bun/find-bun.mjs", import.meta.url));

let resolved: string | undefined;

export function bunBinary(): string {
	if (resolved) return resolved;
	try {
		resolved = execFileSync(process.execPath, [FIND_BUN], {
			encoding: "utf8",
			stdio: ["ignore", "pipe", "inherit"],
			timeout: 240_000,
		}).trim();
	} catch (error) {
		throw new Error("Bun is needed for the Bun tests and could not be found or installed (scripts/bun/find-bun.mjs)", {
			cause: error,
		});
	}
	return resolved;
}

/** `bun <args>` in `cwd`, collecting its output; resolves (never rejects) with the exit status. */
export function runBun(
	args: string[],
	options: { cwd: string; timeoutMs: number },
): Promise<{ status: number | null; output: string }> {
	const binary = bunBinary();
	return new Promise((resolve) => {
		execFile(
			binary,
			args,
			{
				cwd: options.cwd,
				timeout: options.timeoutMs,
				encoding: "utf8",
				maxBuffer: 16 * 1024 * 1024,
				env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
			},
			(error, stdout, stderr) => {
				const status = error ? (typeof error.code === "number" ? error.code : null) : 0;
				resolve({ status, output: `${stdout}${stderr}` || (error?.message ?? "") });
			},
		);
	});
}
