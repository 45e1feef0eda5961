/**
 * The warm path and the SQLite hot path on Node and on Bun, side by side. Each runtime runs
 * runtime-entry.ts in its own process and measures its own baselines (await Map.get; one raw PK
 * SELECT with its own SQLite library), so each ratio is against the same runtime. Bun is found or
 * installed by scripts/bun/find-bun.mjs.
 */
import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { section } from "./common";
import type { BenchResult } from "./harness";
import type { RuntimeReport } from "./runtime-entry";

const here = fileURLToPath(new URL(".", import.meta.url));
const entry = join(here, "runtime-entry.ts");

function runEntry(binary: string, args: string[]): Promise<RuntimeReport> {
	return new Promise((resolve, reject) => {
		execFile(binary, [...args, entry], { cwd: here, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
			if (error) return reject(new Error(`${binary} ${entry} failed: ${stderr || error.message}`));
			const line = stdout.trim().split("\n").pop() ?? "";
			resolve(JSON.parse(line) as RuntimeReport);
		});
	});
}

function findBun(): string {
	return execFileSync(process.execPath, [join(here, "..", "scripts", "bun", "find-bun.mjs")], {
		encoding: "utf8",
		stdio: ["ignore", "pipe", "inherit"],
	}).trim();
}

section("runtimes: Node and Bun side by side (warm path, SQLite hot path)", async () => {
	// One after the other: side by side they would share the two cores and skew each other.
	const node = await runEntry(process.execPath, ["--conditions=@authpool/source", "--import", "tsx"]);
	const bun = await runEntry(findBun(), ["--conditions=@authpool/source"]);
	const rows: Array<[key: string, baseline: string]> = [
		["memorySession", "asyncMapGet"],
		["memoryNoSession", "asyncMapGet"],
		["sqliteSession", "rawSelect"],
		["sqliteNoSession", "rawSelect"],
	];
	const cell = (report: RuntimeReport, key: string, baseline: string) => {
		const result = report.results[key] as BenchResult;
		const base = report.results[baseline] as BenchResult;
		return `${result.nsPerOp.toFixed(0)} | ${(result.nsPerOp / base.nsPerOp).toFixed(2)}`;
	};
	const lines = [
		"\n## runtimes: Node and Bun side by side (fresh OAuth, warm)",
		"",
		`| case | ${node.runtime} ns/op | × its baseline | ${bun.runtime} ns/op | × its baseline |`,
		"|---|---:|---:|---:|---:|",
	];
	for (const [key, baseline] of rows) {
		lines.push(`| ${node.results[key]?.name} | ${cell(node, key, baseline)} | ${cell(bun, key, baseline)} |`);
	}
	lines.push(
		"",
		"baselines, each measured in its own runtime's process:",
		`- memory rows: ${node.results.asyncMapGet?.name} = ${node.results.asyncMapGet?.nsPerOp.toFixed(0)} ns (node), ${bun.results.asyncMapGet?.nsPerOp.toFixed(0)} ns (bun)`,
		`- sqlite rows: ${node.results.rawSelect?.name} = ${node.results.rawSelect?.nsPerOp.toFixed(0)} ns; ${bun.results.rawSelect?.name} = ${bun.results.rawSelect?.nsPerOp.toFixed(0)} ns`,
	);
	return lines.join("\n");
});
