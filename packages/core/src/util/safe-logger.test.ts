import { describe, expect, it } from "vitest";
import type { Logger } from "../types";
import { safeLogger } from "./safe-logger";

describe("safeLogger", () => {
	it("swallows throws and rejections of every level and still forwards the call", () => {
		const seen: string[] = [];
		const hostile: Logger = {
			debug: (m) => {
				seen.push(m);
				throw new Error("sink down");
			},
			info: (m) => {
				seen.push(m);
				return Promise.reject(new Error("async sink down")) as unknown as undefined;
			},
			warn: () => {
				throw new Error("x");
			},
			error: () => {
				throw new Error("y");
			},
		};
		const log = safeLogger(hostile);
		expect(() => {
			log.debug("a");
			log.info("b");
			log.warn("c");
			log.error("d");
		}).not.toThrow();
		expect(seen).toEqual(["a", "b"]);
		expect(safeLogger(log)).toBe(log);
	});
});
