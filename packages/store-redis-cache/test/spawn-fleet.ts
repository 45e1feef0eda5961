/**
 * Test helper: fork `fleet-worker.ts` as a real OS process running on source (tsx + the
 * `@authpool/source` condition) and talk to it with numbered commands.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { FleetCommand, FleetWorkerConfig } from "./fleet-worker";

const SCRIPT = fileURLToPath(new URL("./fleet-worker.ts", import.meta.url));

export interface FleetWorker {
	readonly name: string;
	readonly child: ChildProcess;
	/** Resolves once the worker's `AuthStorage` loaded. */
	readonly ready: Promise<void>;
	/** Send a command; resolves with its result, rejects with the worker's error code. */
	send<T = Record<string, unknown>>(command: FleetCommand): Promise<T>;
	/** SIGKILL (if still running) and wait for the exit. */
	kill(): Promise<void>;
	readonly exited: Promise<void>;
}

export function spawnFleetWorker(config: FleetWorkerConfig): FleetWorker {
	const child = fork(SCRIPT, [JSON.stringify(config)], {
		execArgv: ["--conditions=@authpool/source", "--import", "tsx"],
		stdio: ["ignore", "inherit", "inherit", "ipc"],
	});
	let seq = 0;
	const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
	let running = true;
	const exited = new Promise<void>((resolve) => {
		child.on("exit", (code, signal) => {
			running = false;
			for (const waiter of pending.values()) waiter.reject(new Error(`${config.worker} exited (${code ?? signal})`));
			pending.clear();
			resolve();
		});
	});
	const ready = new Promise<void>((resolve, reject) => {
		pending.set(0, { resolve: () => resolve(), reject });
	});
	child.on("message", (message: { seq: number; ok: boolean; result?: unknown; error?: string }) => {
		const waiter = pending.get(message.seq);
		if (!waiter) return;
		pending.delete(message.seq);
		if (message.ok) waiter.resolve(message.result);
		else waiter.reject(new Error(`${config.worker}: ${message.error}`));
	});
	return {
		name: config.worker,
		child,
		ready,
		exited,
		send<T>(command: FleetCommand) {
			if (!running) return Promise.reject(new Error(`${config.worker} is not running`));
			const id = ++seq;
			return new Promise<T>((resolve, reject) => {
				pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
				child.send({ ...command, seq: id });
			});
		},
		async kill() {
			if (running) child.kill("SIGKILL");
			await exited;
		},
	};
}
