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

/**
 * Spawn a long-running command of the bin. `waitFor` resolves once stdout matches (and rejects if the
 * process exits first); `stop` sends `signal` (default SIGINT, Ctrl-C) and resolves with the exit code.
 */
export function startCli(args: string[], env: Record<string, string>) {
	const child = spawn(process.execPath, [BIN, ...args], {
		env: { PATH: process.env.PATH ?? "", NO_COLOR: "1", ...env },
	});
	let stdout = "";
	let stderr = "";
	const watchers: Array<() => void> = [];
	child.stdout.on("data", (d) => {
		stdout += d;
		for (const w of watchers.splice(0)) w();
	});
	child.stderr.on("data", (d) => {
		stderr += d;
	});
	const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
	return {
		output: () => ({ stdout, stderr }),
		waitFor: (pattern: RegExp) =>
			new Promise<RegExpExecArray>((resolve, reject) => {
				closed.then(() => reject(new Error(`exited before ${pattern}: ${stderr}`)));
				const check = () => {
					const m = pattern.exec(stdout);
					if (m) resolve(m);
					else watchers.push(check);
				};
				check();
			}),
		stop: (signal: NodeJS.Signals = "SIGINT") => {
			child.kill(signal);
			return closed;
		},
	};
}
