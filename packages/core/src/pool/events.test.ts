import { describe, expect, it } from "vitest";
import type { Logger } from "../types";
import { type CredentialDisabledEvent, CredentialDisabledEvents, GenerationCounter } from "./events";

function recordingLogger(): Logger & { messages: string[] } {
	const messages: string[] = [];
	const log = (message: string, fields?: Record<string, unknown>) => {
		messages.push(`${message} ${JSON.stringify(fields ?? {})}`);
	};
	return { messages, debug: log, info: log, warn: log, error: log };
}

function event(id: number): CredentialDisabledEvent {
	return {
		type: "credential_disabled",
		provider: "acme",
		credentialId: id,
		disabledCause: "invalid_grant",
		credentialType: "oauth",
		at: 0,
	};
}

describe("CredentialDisabledEvents", () => {
	it("buffers events nobody heard and replays them once, in order, to the first subscriber", () => {
		const hub = new CredentialDisabledEvents(recordingLogger());
		hub.emit(event(1));
		hub.emit(event(2));
		const first: number[] = [];
		const second: number[] = [];
		hub.subscribe((e) => {
			first.push(e.credentialId);
		});
		hub.subscribe((e) => {
			second.push(e.credentialId);
		});
		expect(first).toEqual([1, 2]);
		expect(second).toEqual([]);
		hub.emit(event(3));
		expect(first).toEqual([1, 2, 3]);
		expect(second).toEqual([3]);
	});

	it("keeps at most 32 buffered events (oldest dropped)", () => {
		const hub = new CredentialDisabledEvents(recordingLogger());
		for (let id = 1; id <= 40; id += 1) hub.emit(event(id));
		const seen: number[] = [];
		hub.subscribe((e) => {
			seen.push(e.credentialId);
		});
		expect(seen).toHaveLength(32);
		expect(seen[0]).toBe(9);
		expect(seen.at(-1)).toBe(40);
	});

	it("isolates listeners from each other's throws and rejections", async () => {
		const logger = recordingLogger();
		const hub = new CredentialDisabledEvents(logger);
		const seen: number[] = [];
		hub.subscribe(() => {
			throw new Error("boom sk-ant-fake-abcdefghij");
		});
		hub.subscribe(async () => {
			throw new Error("async boom");
		});
		hub.subscribe((e) => {
			seen.push(e.credentialId);
		});
		expect(() => hub.emit(event(7))).not.toThrow();
		await new Promise((resolve) => setImmediate(resolve));
		expect(seen).toEqual([7]);
		expect(logger.messages.filter((m) => m.includes("listener failed"))).toHaveLength(2);
		expect(logger.messages.join("\n")).not.toContain("sk-ant-fake-abcdefghij");
	});

	it("unsubscribe stops delivery and a later emit buffers again", () => {
		const hub = new CredentialDisabledEvents(recordingLogger());
		const seen: number[] = [];
		const off = hub.subscribe((e) => {
			seen.push(e.credentialId);
		});
		off();
		off();
		hub.emit(event(1));
		expect(seen).toEqual([]);
		expect(hub.pendingCount).toBe(1);
	});
});

describe("GenerationCounter", () => {
	it("notifies listeners with the new value and survives a throwing listener", () => {
		const counter = new GenerationCounter(recordingLogger());
		const seen: number[] = [];
		counter.subscribe(() => {
			throw new Error("bad listener");
		});
		const off = counter.subscribe((g) => seen.push(g));
		const start = counter.value;
		counter.bump("test");
		off();
		counter.bump("test");
		expect(seen).toEqual([start + 1]);
		expect(counter.value).toBe(start + 2);
	});
});
