import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthpoolError } from "@authpool/core";
import { afterEach, describe, expect, it } from "vitest";
import { loadBetterSqlite3, runtimeSqliteDriver } from "./sqlite-driver";

const dirs: string[] = [];
afterEach(() => {
	for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
	const dir = mkdtempSync(join(tmpdir(), "authpool-sqlite-driver-"));
	dirs.push(dir);
	return dir;
}

describe("driver selection on Node", () => {
	it("picks better-sqlite3 and loads it lazily", () => {
		expect(runtimeSqliteDriver()).toBe("better-sqlite3");
		expect(typeof loadBetterSqlite3()).toBe("function");
	});

	it("a missing better-sqlite3 fails with STORE_ERROR saying what to install", () => {
		// Node's own failure for a package that is not installed (a real lookup here would find the
		// workspace's copy through the NODE_PATH that `pnpm exec` sets).
		const requireOutside = ((id: string) => {
			throw Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- /app/index.js`), {
				code: "MODULE_NOT_FOUND",
			});
		}) as unknown as NodeJS.Require;
		const error = (() => {
			try {
				loadBetterSqlite3(requireOutside);
			} catch (caught) {
				return caught;
			}
		})();
		expect(AuthpoolError.isInstance(error)).toBe(true);
		expect((error as AuthpoolError).code).toBe("STORE_ERROR");
		expect((error as Error).message).toContain("npm i better-sqlite3");
		expect((error as Error).message).toContain("not installed");
	});

	it("a better-sqlite3 that does not load fails with STORE_ERROR naming the reason", () => {
		const dir = scratch();
		const module = join(dir, "node_modules", "better-sqlite3");
		mkdirSync(module, { recursive: true });
		writeFileSync(join(module, "package.json"), JSON.stringify({ name: "better-sqlite3", main: "index.js" }));
		writeFileSync(join(module, "index.js"), 'throw new Error("addon built for another NODE_MODULE_VERSION");');
		const error = (() => {
			try {
				loadBetterSqlite3(createRequire(join(dir, "app.js")));
			} catch (caught) {
				return caught;
			}
		})();
		expect((error as AuthpoolError).code).toBe("STORE_ERROR");
		expect((error as Error).message).toContain("does not load: addon built for another NODE_MODULE_VERSION");
	});
});
