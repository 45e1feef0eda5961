/**
 * Test helper: the Bun executable the Bun runs use. `AUTHPOOL_BUN` when set; else the copy installed
 * under the repo's `.tmp/bun` (npm's `bun` package, no root or global write); else `bun` on PATH;
 * else installed into `.tmp/bun` from the npm registry now. A Bun that cannot be found or installed
 * throws: the Bun tests fail, they never skip.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** Where `npm i --prefix .tmp/bun bun@1` (scripts/test.sh or this helper) puts it. */
export const LOCAL_BUN = join(REPO_ROOT, ".tmp", "bun", "node_modules", ".bin", "bun");
/** The major the tests are written against (`bun:sqlite` with `reader` on statements, Node IPC). */
const BUN_SPEC = "bun@1";

let resolved: string | undefined;

function runs(binary: string): boolean {
	try {
		execFileSync(binary, ["--version"], { stdio: "ignore", timeout: 10_000 });
		return true;
	} catch {
		return false;
	}
}

export function bunBinary(): string {
	if (resolved) return resolved;
	const fromEnv = process.env.AUTHPOOL_BUN;
	if (fromEnv) {
		if (!runs(fromEnv)) throw new Error(`AUTHPOOL_BUN=${fromEnv} does not run`);
		resolved = fromEnv;
		return resolved;
	}
	if (existsSync(LOCAL_BUN) && runs(LOCAL_BUN)) {
		resolved = LOCAL_BUN;
		return resolved;
	}
	if (runs("bun")) {
		resolved = "bun";
		return resolved;
	}
	try {
		execFileSync(
			"npm",
			["install", "--prefix", join(REPO_ROOT, ".tmp", "bun"), "--no-audit", "--no-fund", "--loglevel=error", BUN_SPEC],
			{ stdio: ["ignore", "ignore", "inherit"], timeout: 180_000 },
		);
	} catch (error) {
		throw new Error(`Bun is needed for the Bun tests and could not be installed with npm (${BUN_SPEC})`, {
			cause: error,
		});
	}
	if (!runs(LOCAL_BUN)) throw new Error(`npm installed ${BUN_SPEC} but ${LOCAL_BUN} does not run`);
	resolved = LOCAL_BUN;
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
