import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AuthpoolError } from "../errors";
import { raceSignal, sleep, withTimeout } from "./abort";

describe("raceSignal", () => {
	it("rejects only the aborted caller; the shared promise still settles for others", async () => {
		let resolveShared!: (value: string) => void;
		const shared = new Promise<string>((resolve) => {
			resolveShared = resolve;
		});
		const controller = new AbortController();
		const aborted = raceSignal(shared, controller.signal);
		const other = raceSignal(shared, new AbortController().signal);
		controller.abort();
		await expect(aborted).rejects.toMatchObject({ code: "ABORTED" });
		resolveShared("token");
		await expect(other).resolves.toBe("token");
	});
});

describe("withTimeout", () => {
	it("rejects with TIMEOUT and aborts the task's signal", async () => {
		let taskSignal: AbortSignal | undefined;
		const result = withTimeout(10, "too slow", (signal) => {
			taskSignal = signal;
			return new Promise(() => {});
		});
		await expect(result).rejects.toSatisfy((e: unknown) => AuthpoolError.isInstance(e) && e.code === "TIMEOUT");
		expect(taskSignal?.aborted).toBe(true);
	});
});

describe("sleep", () => {
	it("keeps the process alive while a caller waits (a CLI must not exit mid-request)", () => {
		const abortModule = fileURLToPath(new URL("./abort.ts", import.meta.url));
		const script = `const { sleep } = await import(${JSON.stringify(abortModule)}); await sleep(50); console.log("woke");`;
		const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
			encoding: "utf8",
		});
		expect(out.trim()).toBe("woke");
	});
	it("rejects when aborted", async () => {
		const controller = new AbortController();
		const pending = sleep(10_000, controller.signal);
		controller.abort();
		await expect(pending).rejects.toMatchObject({ code: "ABORTED" });
	});
});
