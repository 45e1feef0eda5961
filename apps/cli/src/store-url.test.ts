import { describe, expect, it } from "vitest";
import { defaultStorePath, parseRedisUrl, parseStoreUrl } from "./store-url";

describe("store URLs", () => {
	it("defaults to the XDG data dir, else ~/.local/share", () => {
		expect(defaultStorePath({ XDG_DATA_HOME: "/data", HOME: "/home/u" })).toBe("/data/authpool/authpool.db");
		expect(defaultStorePath({ HOME: "/home/u" })).toBe("/home/u/.local/share/authpool/authpool.db");
		// A relative XDG_DATA_HOME is invalid per the spec and ignored.
		expect(defaultStorePath({ XDG_DATA_HOME: "rel", HOME: "/home/u" })).toBe(
			"/home/u/.local/share/authpool/authpool.db",
		);
		expect(parseStoreUrl(undefined, { AUTHPOOL_STORE_URL: "sqlite:/tmp/x.db" })).toMatchObject({
			kind: "sqlite",
			path: "/tmp/x.db",
		});
	});

	it("parses sqlite, bare paths and postgres (schema from the query, no password in the label)", () => {
		expect(parseStoreUrl("sqlite:///var/a.db", {})).toMatchObject({ kind: "sqlite", path: "/var/a.db" });
		expect(parseStoreUrl("/var/b.db", {})).toMatchObject({ kind: "sqlite", path: "/var/b.db" });
		const pg = parseStoreUrl("postgres://user:test-password-1@db.internal:5432/auth?schema=team_a", {});
		expect(pg).toMatchObject({ kind: "postgres", schema: "team_a" });
		expect(pg.label).toBe("postgres://db.internal:5432/auth (schema team_a)");
		expect(pg.kind === "postgres" && pg.connectionString).not.toContain("schema=");
		expect(() => parseStoreUrl("redis://x", {})).toThrow(/unsupported scheme "redis"/);
		expect(() => parseStoreUrl("sqlite:", {})).toThrow(/needs a file path/);
	});

	it("parses broker+http(s):// and --redis URLs; refuses credentials in a broker URL", () => {
		expect(parseStoreUrl("broker+https://broker.internal:8765/", {})).toEqual({
			kind: "broker",
			url: "https://broker.internal:8765",
			label: "broker+https://broker.internal:8765",
		});
		expect(parseStoreUrl(undefined, { AUTHPOOL_STORE_URL: "broker+http://127.0.0.1:9" })).toMatchObject({
			kind: "broker",
			url: "http://127.0.0.1:9",
		});
		expect(() => parseStoreUrl("broker+https://u:test-password-1@b:1", {})).toThrow(/no credentials in a broker URL/);
		expect(() => parseStoreUrl("broker+https://b:1?token=x", {})).toThrow(/no query/);
		expect(() => parseStoreUrl("broker+ftp://b:1", {})).toThrow(/unsupported scheme "broker\+ftp"/);
		expect(parseRedisUrl("redis://127.0.0.1:6379/2?prefix=team-a:")).toEqual({
			url: "redis://127.0.0.1:6379/2",
			prefix: "team-a:",
			label: "redis://127.0.0.1:6379/2 (prefix team-a:)",
		});
		expect(parseRedisUrl("rediss://:test-password-1@cache:6380").label).toBe("rediss://cache:6380");
		expect(() => parseRedisUrl("http://cache:6379")).toThrow(/expected redis:\/\/ or rediss:\/\//);
		expect(() => parseRedisUrl("not a url")).toThrow(/not a valid URL/);
	});
});
