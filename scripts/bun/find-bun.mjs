#!/usr/bin/env node
// Prints the path of the Bun executable the Bun checks use, installing it when missing:
// $AUTHPOOL_BUN, else the repo's .tmp/bun (npm's `bun` package, installed with
// `npm i --prefix .tmp/bun bun@1`: no root or global write), else `bun` on PATH, else that
// install now. Exits non-zero (and the caller fails) when no Bun can be found or installed.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const prefix = join(root, ".tmp", "bun");
const local = join(prefix, "node_modules", ".bin", "bun");

function runs(binary) {
	try {
		execFileSync(binary, ["--version"], { stdio: "ignore", timeout: 10_000 });
		return true;
	} catch {
		return false;
	}
}

export function findBun() {
	const fromEnv = process.env.AUTHPOOL_BUN;
	if (fromEnv) {
		if (!runs(fromEnv)) throw new Error(`AUTHPOOL_BUN=${fromEnv} does not run`);
		return fromEnv;
	}
	if (existsSync(local) && runs(local)) return local;
	if (runs("bun")) return "bun";
	process.stderr.write("bun: not found; installing bun@1 from the npm registry into .tmp/bun\n");
	execFileSync("npm", ["install", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error", "bun@1"], {
		stdio: ["ignore", "ignore", "inherit"],
		timeout: 180_000,
	});
	if (!runs(local)) throw new Error(`npm installed bun@1 but ${local} does not run`);
	return local;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	try {
		process.stdout.write(`${findBun()}\n`);
	} catch (error) {
		process.stderr.write(`bun: ${error instanceof Error ? error.message : String(error)}\n`);
		process.exit(1);
	}
}
