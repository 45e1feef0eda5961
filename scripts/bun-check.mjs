#!/usr/bin/env node
// The packages on Bun (run by scripts/test.sh after the vitest run; `node scripts/bun-check.mjs`).
// 1. Each package's own vitest suite under `bun test` (vitest imports map to bun:test; the preload
//    scripts/bun/vitest-compat.ts adds the two vitest helpers Bun lacks), on source through the
//    `@authpool/source` condition. A test that checks Node-only behaviour is filtered out by name
//    below, with its reason printed: never silently.
// 2. A smoke run of the BUILT packages (dist, as published) under plain `bun`: scripts/bun/smoke.mjs.
// store-sqlite's Bun runs (conformance on bun:sqlite, Node+Bun processes on one file) are vitest
// tests of that package (src/bun-runtime.int.test.ts). Any Bun failure exits non-zero.
import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findBun } from "./bun/find-bun.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const compat = join(root, "scripts", "bun", "vitest-compat.ts");

/** Suites run under Bun, with the tests that cannot hold there and why. */
const SUITES = [
	{
		dir: "core",
		skip: {
			"withTimeout rejects with TIMEOUT and aborts":
				"Bun's `rejects.toSatisfy` hands the promise, not the reason, to the predicate",
			"gives up after rankingWaitMs and maps": "uses vi.advanceTimersByTimeAsync, which bun:test does not have",
		},
	},
	{
		dir: "fake-provider",
		skip: {
			"destroy simulates a network error":
				"asserts Node's fetch message (\"fetch failed\"); Bun's fetch rejects with ECONNRESET",
		},
	},
	{ dir: "store-conformance" },
	...[
		"usage-anthropic",
		"usage-github-copilot",
		"usage-google-antigravity",
		"usage-google-gemini-cli",
		"usage-kimi-code",
		"usage-ollama",
		"usage-openai-codex",
		"usage-opencode-go",
		"usage-template",
		"usage-zai",
	].map((dir) => ({ dir })),
];

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function run(binary, args, cwd, timeoutMs) {
	return new Promise((resolve) => {
		execFile(
			binary,
			args,
			{
				cwd,
				timeout: timeoutMs,
				maxBuffer: 32 * 1024 * 1024,
				env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
			},
			(error, stdout, stderr) => resolve({ ok: !error, output: `${stdout}${stderr}`, error }),
		);
	});
}

const bun = findBun();
const version = (await run(bun, ["--version"], root, 10_000)).output.trim();
console.log(`bun: ${bun} (${version})`);
const started = Date.now();
let failed = false;

async function suite({ dir, skip = {} }) {
	// The same per-test timeout as the vitest projects (vitest.shared.ts); bun test's default is 5 s.
	const args = ["test", "--timeout", "20000", "--preload", compat, "--conditions=@authpool/source", "./src"];
	const names = Object.keys(skip);
	if (names.length > 0) args.push("-t", `^(?!.*(?:${names.map(escapeRegExp).join("|")})).*$`);
	const t0 = Date.now();
	const { ok, output } = await run(bun, args, join(root, "packages", dir), 120_000);
	const count = (label) => Number(new RegExp(`^\\s*(\\d+) ${label}$`, "m").exec(output)?.[1] ?? 0);
	const pass = count("pass");
	const fail = count("fail");
	const filtered = count("filtered out");
	const line = `bun test ${dir}: ${pass} passed, ${fail} failed, ${filtered} filtered out (${Date.now() - t0} ms)`;
	if (!ok || fail > 0 || pass === 0 || filtered !== names.length) {
		failed = true;
		console.error(`${line}: FAILED\n${output.slice(-8_000)}`);
		return;
	}
	console.log(line);
	for (const [name, reason] of Object.entries(skip)) console.log(`  not run on Bun: "${name}…": ${reason}`);
}

// Two at a time: the machine is small and each run is mostly one thread.
const queue = [...SUITES];
await Promise.all(
	[0, 1].map(async () => {
		for (let next = queue.shift(); next; next = queue.shift()) await suite(next);
	}),
);

const t0 = Date.now();
const smoke = await run(bun, [join(root, "scripts", "bun", "smoke.mjs")], root, 60_000);
process.stdout.write(smoke.output.replace(/^/gm, "  "));
if (!smoke.ok) {
	failed = true;
	console.error(`bun smoke (built packages): FAILED${smoke.error ? ` (${smoke.error.message.split("\n")[0]})` : ""}`);
} else console.log(`bun smoke (built packages): ok (${Date.now() - t0} ms)`);

console.log(`bun: ${failed ? "FAILED" : "all passed"} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
