import { describe, expect, it } from "vitest";
import type { Logger } from "../types";
import { createConfigValueResolver } from "./cascade";

function recordingLogger(): { logger: Logger; lines: string[] } {
	const lines: string[] = [];
	const record = (message: string, fields?: Record<string, unknown>) => {
		lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
	};
	return { logger: { debug: record, info: record, warn: record, error: record }, lines };
}

function setup(extra: { commandTimeoutMs?: number; commandMaxOutputBytes?: number; allowCommands?: boolean } = {}) {
	let now = 1_000;
	const { logger, lines } = recordingLogger();
	const resolve = createConfigValueResolver({
		env: { ACME_KEY: "from-env" },
		allowCommands: extra.allowCommands ?? true,
		clock: { now: () => now },
		logger,
		...(extra.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: extra.commandTimeoutMs }),
		...(extra.commandMaxOutputBytes === undefined ? {} : { commandMaxOutputBytes: extra.commandMaxOutputBytes }),
	});
	return { resolve, lines, advance: (ms: number) => (now += ms) };
}

describe("createConfigValueResolver !command", () => {
	it("resolves env names and literals without running anything", async () => {
		const { resolve, lines } = setup({ allowCommands: false });
		expect(await resolve("ACME_KEY")).toBe("from-env");
		expect(await resolve("literal-value")).toBe("literal-value");
		expect(await resolve("!echo nope")).toBe("!echo nope");
		expect(lines).toEqual([]);
	});

	it("runs through a shell asynchronously and trims stdout", async () => {
		const { resolve } = setup();
		let ticked = false;
		const timer = setTimeout(() => {
			ticked = true;
		}, 20);
		const pending = resolve("!sleep 0.3; printf '  from-command \\n'");
		expect(pending).toBeInstanceOf(Promise);
		expect(await pending).toBe("from-command");
		clearTimeout(timer);
		// The event loop kept turning while the command ran.
		expect(ticked).toBe(true);
	});

	it("logs the exit code and nothing of the command or its output", async () => {
		const { resolve, lines } = setup();
		expect(await resolve("!echo test-secret-output-1; echo test-secret-err-1 >&2; exit 3")).toBeUndefined();
		expect(lines).toHaveLength(1);
		expect(lines[0]).toContain("config command failed (exit 3)");
		const all = lines.join("\n");
		expect(all).not.toContain("test-secret-output-1");
		expect(all).not.toContain("test-secret-err-1");
		expect(all).not.toContain("echo");
	});

	it("kills a command that outlives the timeout", async () => {
		const { resolve, lines } = setup({ commandTimeoutMs: 200 });
		const started = performance.now();
		expect(await resolve("!sleep 5; echo test-late-1")).toBeUndefined();
		expect(performance.now() - started).toBeLessThan(3_000);
		expect(lines).toEqual([expect.stringContaining("config command failed (timed out)")]);
		expect(lines.join("\n")).not.toContain("sleep");
	});

	it("caps the output", async () => {
		const { resolve, lines } = setup({ commandMaxOutputBytes: 16 });
		expect(await resolve("!printf '%040d' 0")).toBeUndefined();
		expect(lines).toEqual([expect.stringContaining("config command failed (output over 16 bytes)")]);
		expect(await resolve("!printf short")).toBe("short");
	});

	it("shares one run between concurrent callers and reuses the result for a minute", async () => {
		const { resolve, advance } = setup();
		const [a, b] = await Promise.all([resolve("!echo $$"), resolve("!echo $$")]);
		expect(a).toMatch(/^\d+$/);
		expect(b).toBe(a);
		advance(30_000);
		expect(await resolve("!echo $$")).toBe(a);
		advance(31_000);
		expect(await resolve("!echo $$")).not.toBe(a);
	});

	it("rejects bad options with INVALID_OPTIONS", () => {
		expect(() => setup({ commandTimeoutMs: 0 })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
		expect(() => setup({ commandMaxOutputBytes: 1.5 })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
	});
});
