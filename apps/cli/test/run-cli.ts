import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BIN = new URL("../dist/bin.js", import.meta.url).pathname;

export interface RunResult {
	code: number | null;
	stdout: string;
	stderr: string;
}

export function tempHome(): string {
	return mkdtempSync(join(tmpdir(), "authpool-cli-test-"));
}

/** Spawn the built `authpool` bin with a clean environment rooted at `home`. */
export function runCli(
	args: string[],
	options: { home: string; env?: Record<string, string>; stdin?: string } = { home: tempHome() },
): Promise<RunResult> {
	if (!existsSync(BIN))
		throw new Error(`${BIN} is missing: build the CLI first (pnpm --filter @authpool/cli... build)`);
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, [BIN, ...args], {
			env: { PATH: process.env.PATH ?? "", HOME: options.home, NO_COLOR: "1", ...options.env },
			stdio: ["pipe", "pipe", "pipe"],
		});
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (d) => {
			stdout += d;
		});
		child.stderr.on("data", (d) => {
			stderr += d;
		});
		child.on("error", reject);
		child.on("close", (code) => resolve({ code, stdout, stderr }));
		child.stdin.end(options.stdin ?? "");
	});
}

/** The default store of a test HOME. */
export const defaultStore = (home: string) => join(home, ".local", "share", "authpool", "authpool.db");
