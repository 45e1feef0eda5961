import { REMOTE_REFRESH_SENTINEL as CORE_SENTINEL } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { REMOTE_REFRESH_SENTINEL } from "./constants";
import {
	blockRequestSchema,
	disableRequestSchema,
	snapshotEntrySchema,
	snapshotQuerySchema,
	snapshotResponseSchema,
	upsertRequestSchema,
	usageQuerySchema,
	usageReportSchema,
} from "./schemas";
import { encodeSseFrame, parseCapabilities, parseStreamFrame, SseParser } from "./sse";

const entry = {
	id: 1,
	provider: "anthropic",
	credential: {
		type: "oauth",
		access: "test-access-1",
		refresh: REMOTE_REFRESH_SENTINEL,
		expires: 1_000,
		email: "a@example.com",
		tokenUrl: "https://auth.example.com/token",
	},
	identityKey: "a@example.com",
	rotatesInMs: null,
	blocks: [],
};
const snapshot = {
	instanceId: "broker-a",
	generation: 3,
	generatedAt: 5,
	serverNowMs: 5,
	refresher: { enabled: false, intervalMs: 0, skewMs: 0, nextSweepInMs: 0 },
	credentials: [entry],
};

describe("broker wire schemas", () => {
	it("uses core's sentinel", () => {
		expect(REMOTE_REFRESH_SENTINEL).toBe(CORE_SENTINEL);
	});

	it("rejects unknown keys in envelopes", () => {
		expect(snapshotResponseSchema.safeParse(snapshot).success).toBe(true);
		expect(snapshotResponseSchema.safeParse({ ...snapshot, extra: 1 }).success).toBe(false);
		expect(snapshotEntrySchema.safeParse({ ...entry, extra: 1 }).success).toBe(false);
		expect(disableRequestSchema.safeParse({ cause: "x", force: true }).success).toBe(false);
		expect(blockRequestSchema.safeParse({ providerKey: "a:oauth", blockedUntilMs: 1, x: 1 }).success).toBe(false);
	});

	it("keeps OAuth credential and usage report extension fields", () => {
		const parsed = snapshotEntrySchema.parse(entry);
		expect((parsed.credential as Record<string, unknown>).tokenUrl).toBe("https://auth.example.com/token");
		const report = usageReportSchema.parse({ provider: "x", fetchedAt: 1, limits: [], planPrice: 20 });
		expect((report as Record<string, unknown>).planPrice).toBe(20);
	});

	it("accepts only the sentinel as a refresh token on the wire, and never the sentinel in an upsert", () => {
		const real = { ...entry, credential: { ...entry.credential, refresh: "test-refresh-1" } };
		expect(snapshotEntrySchema.safeParse(real).success).toBe(false);
		const upsert = (refresh: string) => ({
			provider: "anthropic",
			credential: { type: "oauth", access: "test-access-1", refresh, expires: 1 },
		});
		expect(upsertRequestSchema.safeParse(upsert("test-refresh-1")).success).toBe(true);
		expect(upsertRequestSchema.safeParse(upsert(REMOTE_REFRESH_SENTINEL)).success).toBe(false);
		expect(upsertRequestSchema.safeParse(upsert("")).success).toBe(false);
	});

	it("refuses usage reports that carry the raw upstream payload", () => {
		expect(usageReportSchema.safeParse({ provider: "x", fetchedAt: 1, limits: [], raw: { a: 1 } }).success).toBe(false);
	});

	it("coerces and bounds query strings", () => {
		expect(snapshotQuerySchema.parse({ wait: "250" })).toEqual({ wait: 250 });
		expect(snapshotQuerySchema.safeParse({ wait: "-1" }).success).toBe(false);
		expect(snapshotQuerySchema.safeParse({ wait: "30001" }).success).toBe(false);
		expect(snapshotQuerySchema.safeParse({ wait: "1e3" }).success).toBe(false);
		expect(usageQuerySchema.safeParse({ maxAgeMs: "1000" }).success).toBe(false);
		expect(usageQuerySchema.parse({ maxAgeMs: "10000" })).toEqual({ maxAgeMs: 10_000 });
	});
});

describe("SSE framing", () => {
	it("round-trips frames split at any byte", () => {
		const text =
			encodeSseFrame("snapshot", snapshot, 3) +
			": keepalive comment\n\n" +
			encodeSseFrame("removed", { generation: 4, id: 1 }, 4) +
			"event: future-event\ndata: {}\n\n";
		const parser = new SseParser();
		const events = [];
		for (const char of text) events.push(...parser.push(char));
		expect(events.map((event) => event.event)).toEqual(["snapshot", "removed", "future-event"]);
		expect(parseStreamFrame(events[0]!)).toEqual({ event: "snapshot", data: snapshot });
		expect(parseStreamFrame(events[1]!)).toEqual({ event: "removed", data: { generation: 4, id: 1 } });
		expect(parseStreamFrame(events[2]!)).toBeNull();
		expect(() => parseStreamFrame({ event: "removed", data: '{"generation":4}' })).toThrow();
	});

	it("parses the capabilities header", () => {
		expect([...parseCapabilities(" Entry-Diffs, block-scopes ,,")]).toEqual(["entry-diffs", "block-scopes"]);
		expect(parseCapabilities(null).size).toBe(0);
	});
});
