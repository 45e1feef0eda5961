import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { bar, createOutput, duration, maskSecret } from "./output";

function streams(tty: boolean, env: Record<string, string>) {
	const stdout = Object.assign(new PassThrough(), { isTTY: tty });
	return { stdout, stderr: new PassThrough(), env };
}

describe("output", () => {
	it("colours only on a terminal, never with NO_COLOR or --json", () => {
		expect(createOutput(false, streams(true, {})).colorEnabled).toBe(true);
		expect(createOutput(false, streams(false, {})).colorEnabled).toBe(false);
		expect(createOutput(false, streams(true, { NO_COLOR: "1" })).colorEnabled).toBe(false);
		expect(createOutput(true, streams(true, {})).colorEnabled).toBe(false);
		expect(createOutput(false, streams(false, { FORCE_COLOR: "1" })).colorEnabled).toBe(true);
		const plain = createOutput(false, streams(false, {}));
		expect(plain.color.red("x")).toBe("x");
	});

	it("bars, durations and fingerprints", () => {
		const c = createOutput(false, streams(false, {})).color;
		expect(bar(0.5, c, 10)).toBe("█████░░░░░  50%");
		expect(bar(1.2, c, 4)).toBe("████ 120%");
		expect(bar(undefined, c, 4)).toBe("····    ?");
		expect([
			duration(0),
			duration(45_000),
			duration(3 * 60_000),
			duration(3 * 3_600_000 + 12 * 60_000),
			duration(50 * 3_600_000),
		]).toEqual(["now", "45s", "3m", "3h 12m", "2d 2h"]);
		expect(maskSecret("test-key-1", false)).toMatch(/^sha256:[0-9a-f]{8}$/);
		expect(maskSecret("test-key-1", false)).not.toContain("test");
		expect(maskSecret("test-key-1", true)).toBe("test-key-1");
	});
});
