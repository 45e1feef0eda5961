/**
 * Test helper: fork `pool-worker.ts` as a real OS process running on source (tsx + the
 * `@authpool/source` condition, or Bun, which runs TypeScript itself), with typed access to its messages.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { bunBinary } from "./bun-binary";
import type { WorkerConfig } from "./pool-worker";

const SCRIPT = fileURLToPath(new URL("./pool-worker.ts", import.meta.url));

export interface WorkerHandle {
	child: ChildProcess;
	messages: Array<Record<string, unknown>>;
	/** Resolves with the first message of `type` (rejects if the process exits first). */
	next(type: string): Promise<Record<string, unknown>>;
	/** Resolves when the process has exited (any cause). */
	exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
	kill(): Promise<void>;
}

export interface SpawnOptions {
	/** Runtime of the worker process. @default "node" */
	runtime?: "node" | "bun";
}

export function spawnWorker(config: WorkerConfig, options: SpawnOptions = {}): WorkerHandle {
	const child =
		options.runtime === "bun"
			? fork(SCRIPT, [JSON.stringify(config)], {
					execPath: bunBinary(),
					execArgv: ["--conditions=@authpool/source"],
					stdio: ["ignore", "inherit", "inherit", "ipc"],
					// Bun speaks Node's IPC in its JSON form.
					serialization: "json",
				})
			: fork(SCRIPT, [JSON.stringify(config)], {
					execArgv: ["--conditions=@authpool/source", "--import", "tsx"],
					stdio: ["ignore", "inherit", "inherit", "ipc"],
				});
	const messages: Array<Record<string, unknown>> = [];
	const waiters: Array<{
		type: string;
		resolve: (message: Record<string, unknown>) => void;
		reject: (e: Error) => void;
	}> = [];
	let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
	child.on("message", (message: Record<string, unknown>) => {
		messages.push(message);
		for (const waiter of [...waiters]) {
			if (waiter.type === message.type || message.type === "error") {
				waiters.splice(waiters.indexOf(waiter), 1);
				if (message.type === "error" && waiter.type !== "error") {
					waiter.reject(new Error(`worker ${config.worker} failed: ${String(message.error)}`));
				} else waiter.resolve(message);
			}
		}
	});
	const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
		child.on("exit", (code, signal) => {
			exitInfo = { code, signal };
			for (const waiter of waiters.splice(0)) {
				waiter.reject(new Error(`worker ${config.worker} exited (${code ?? signal}) before sending ${waiter.type}`));
			}
			resolve(exitInfo);
		});
	});
	return {
		child,
		messages,
		exited,
		next(type) {
			const seen = messages.find((message) => message.type === type);
			if (seen) return Promise.resolve(seen);
			if (exitInfo) return Promise.reject(new Error(`worker ${config.worker} already exited`));
			return new Promise((resolve, reject) => waiters.push({ type, resolve, reject }));
		},
		async kill() {
			if (!exitInfo) child.kill("SIGKILL");
			await exited;
		},
	};
}
