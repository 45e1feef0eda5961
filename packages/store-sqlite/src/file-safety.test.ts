/**
 * The store refuses files it should not trust (symlinks, another user's file, group/world-writable
 * files, files that are not SQLite) before changing anything about them.
 */
import {
	chmodSync,
	mkdtempSync,
	readFileSync,
	renameSync,
	rmSync,
	statSync,
	symlinkSync,
	unlinkSync,
	writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { AuthpoolError, type Logger } from "@authpool/core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createSqliteStore, type SqliteCredentialStore } from "./index";
import { FILE_CHECK_INTERVAL_MS } from "./sqlite-context";

let dir: string;
const opened: SqliteCredentialStore[] = [];

beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-files-"));
});

afterEach(async () => {
	vi.restoreAllMocks();
	for (const store of opened.splice(0)) await store.close();
	rmSync(dir, { recursive: true, force: true });
});

async function open(options: Parameters<typeof createSqliteStore>[0]): Promise<SqliteCredentialStore> {
	const store = await createSqliteStore(options);
	opened.push(store);
	return store;
}

async function rejection(promise: Promise<unknown>): Promise<AuthpoolError> {
	const error = await promise.then(
		() => undefined,
		(reason: unknown) => reason,
	);
	expect(AuthpoolError.isInstance(error), `expected an AuthpoolError, got ${String(error)}`).toBe(true);
	return error as AuthpoolError;
}

const mode = (path: string) => statSync(path).mode & 0o777;

async function sqliteFile(name: string): Promise<string> {
	const path = join(dir, name);
	const store = await createSqliteStore({ path });
	await store.rows.insert("openai", { type: "api_key", key: "test-key-1" });
	await store.close();
	return path;
}

describe("refused files", () => {
	it("creates missing directories 0700, and fails at once (typed) where they cannot be made, e.g. under /proc", async () => {
		const nested = join(dir, "a", "b", "auth.db");
		const store = await createSqliteStore({ path: nested });
		await store.close();
		expect(mode(join(dir, "a"))).toBe(0o700);
		expect(mode(join(dir, "a", "b"))).toBe(0o700);
		// A recursive mkdir never returns here (it spins); the test's own timeout would catch a regression.
		const error = await rejection(createSqliteStore({ path: "/proc/authpool-test-missing/x/auth.db" }));
		expect(error.code).toMatch(/STORE_ERROR|INVALID_OPTIONS/);
	});

	it("refuses a symlinked database path with INVALID_OPTIONS, and accepts it with allowSymlink", async () => {
		const target = await sqliteFile("target.db");
		const link = join(dir, "link.db");
		symlinkSync(target, link);
		const error = await rejection(createSqliteStore({ path: link }));
		expect(error.code).toBe("INVALID_OPTIONS");
		expect(error.message).toContain("symbolic link");
		expect(error.message).toContain(link);

		const store = await open({ path: link, allowSymlink: true });
		expect(await store.rows.listActive("openai")).toHaveLength(1);
	});

	it("refuses a dangling symlink without creating its target", async () => {
		const link = join(dir, "dangling.db");
		symlinkSync(join(dir, "nowhere.db"), link);
		expect((await rejection(createSqliteStore({ path: link }))).code).toBe("INVALID_OPTIONS");
		expect(() => statSync(join(dir, "nowhere.db"))).toThrow();
	});

	it("refuses a symlinked -wal sidecar", async () => {
		const path = await sqliteFile("auth.db");
		symlinkSync(join(dir, "elsewhere"), `${path}-wal`);
		const error = await rejection(createSqliteStore({ path }));
		expect(error.code).toBe("INVALID_OPTIONS");
		expect(error.message).toContain("-wal");
	});

	it("refuses a group- or world-writable file and leaves its mode alone", async () => {
		const path = await sqliteFile("auth.db");
		chmodSync(path, 0o666);
		const error = await rejection(createSqliteStore({ path }));
		expect(error.code).toBe("STORE_ERROR");
		expect(error.message).toContain("writable");
		expect(mode(path)).toBe(0o666);
	});

	it("refuses a file owned by another uid (also as root) without touching it", async () => {
		const path = await sqliteFile("auth.db");
		chmodSync(path, 0o644);
		const uid = process.getuid?.() ?? 0;
		vi.spyOn(process, "getuid").mockReturnValue(uid + 1);
		const error = await rejection(createSqliteStore({ path }));
		expect(error.code).toBe("STORE_ERROR");
		expect(error.message).toContain(`uid ${uid}`);
		expect(mode(path)).toBe(0o644);
	});

	it("refuses a non-SQLite file before changing its mode, and leaves its bytes alone", async () => {
		const path = join(dir, "notes.txt");
		writeFileSync(path, "not a database, just text\n", { mode: 0o644 });
		const error = await rejection(createSqliteStore({ path }));
		expect(error.code).toBe("STORE_ERROR");
		expect(error.message).toContain("not a SQLite database");
		expect(mode(path)).toBe(0o644);
		expect(readFileSync(path, "utf8")).toBe("not a database, just text\n");
	});

	it("accepts an empty existing file and an existing SQLite file (tightened to 0600)", async () => {
		const empty = join(dir, "empty.db");
		writeFileSync(empty, "", { mode: 0o640 });
		await open({ path: empty });
		expect(mode(empty)).toBe(0o600);
		const existing = await sqliteFile("existing.db");
		chmodSync(existing, 0o644);
		const store = await open({ path: existing });
		expect(await store.rows.listActive("openai")).toHaveLength(1);
		expect(mode(existing)).toBe(0o600);
	});
});

function recordingLogger(): Logger & { warnings: string[] } {
	const warnings: string[] = [];
	return {
		warnings,
		debug: () => {},
		info: () => {},
		warn: (message: string) => warnings.push(message),
		error: (message: string) => warnings.push(message),
	};
}

/** Moves `performance.now` (the store's monotonic clock) forward without sleeping. */
function monotonicOffset(): { advance(ms: number): void } {
	const real = performance.now.bind(performance);
	let offset = 0;
	vi.spyOn(performance, "now").mockImplementation(() => real() + offset);
	return {
		advance(ms) {
			offset += ms;
		},
	};
}

describe("a replaced or deleted file", () => {
	it("is noticed by the change check at most once per interval, with a warning, and the store reopens on the new file", async () => {
		const clock = monotonicOffset();
		const path = join(dir, "auth.db");
		const logger = recordingLogger();
		const store = await open({ path, logger });
		await store.rows.insert("openai", { type: "api_key", key: "test-key-old" });
		const replacement = await sqliteFile("replacement.db");
		renameSync(replacement, path);

		// Within the interval nothing is statted: the warm check still answers from the old connection.
		store.changes.revision();
		expect(logger.warnings).toEqual([]);

		clock.advance(FILE_CHECK_INTERVAL_MS + 1);
		store.changes.revision();
		expect(logger.warnings.join("\n")).toContain("replaced or deleted");
		const rows = await store.rows.listActive("openai");
		expect(rows.map((row) => (row.credential as { key: string }).key)).toEqual(["test-key-1"]);
		expect(logger.warnings.join("\n")).toContain("reopened");
		// Writes go to the new file.
		await store.rows.insert("openai", { type: "api_key", key: "test-key-new" });
		const again = await createSqliteStore({ path });
		expect(await again.rows.listActive("openai")).toHaveLength(2);
		await again.close();
	});

	it("a deleted WAL is noticed and the store reopens loudly, keeping every committed row", async () => {
		const clock = monotonicOffset();
		const path = join(dir, "auth.db");
		const logger = recordingLogger();
		const store = await open({ path, logger });
		await store.rows.insert("openai", { type: "api_key", key: "test-key-1" });
		store.changes.revision();
		clock.advance(FILE_CHECK_INTERVAL_MS + 1);
		store.changes.revision();
		expect(logger.warnings).toEqual([]);
		await store.rows.insert("openai", { type: "api_key", key: "test-key-2" });
		unlinkSync(`${path}-wal`);
		clock.advance(FILE_CHECK_INTERVAL_MS + 1);
		store.changes.revision();
		expect(logger.warnings.join("\n")).toContain("WAL file was replaced or deleted");
		const keys = (await store.rows.listActive("openai")).map((row) => (row.credential as { key: string }).key);
		expect(keys).toEqual(["test-key-1", "test-key-2"]);
		await store.close();
		const again = await createSqliteStore({ path });
		expect(await again.rows.listActive("openai")).toHaveLength(2);
		await again.close();
	});

	it("reopens (recreating and migrating) when the file was deleted", async () => {
		const clock = monotonicOffset();
		const path = join(dir, "auth.db");
		const logger = recordingLogger();
		const store = await open({ path, logger });
		await store.rows.insert("openai", { type: "api_key", key: "test-key-old" });
		unlinkSync(path);
		clock.advance(FILE_CHECK_INTERVAL_MS + 1);
		store.changes.revision();
		expect(logger.warnings.join("\n")).toContain("replaced or deleted");
		expect(await store.rows.listActive("openai")).toEqual([]);
		await store.rows.insert("openai", { type: "api_key", key: "test-key-new" });
		expect(statSync(path).isFile()).toBe(true);
	});
});
