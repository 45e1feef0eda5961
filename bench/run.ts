/**
 * `pnpm bench`: micro-benchmarks of the hot path and of the stores, each reported as a ratio against
 * baselines measured in the same process (this machine is noisy: only ratios mean anything).
 *
 *   pnpm bench            # everything
 *   pnpm bench sqlite     # only the sections whose name contains "sqlite"
 *
 * Every run writes bench/results.json (each table: baseline and rows with ns/op and ratio; each section's
 * text) and bench/RESULTS.md (the same report as markdown). A filtered run says so in both.
 */
import { writeFileSync } from "node:fs";
import { arch, availableParallelism, cpus, platform } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sections } from "./common";
import { type RecordedTable, recordedTables } from "./harness";
import "./core.bench";
import "./gateway.bench";
import "./selection.bench";
import "./sqlite.bench";
import "./runtimes.bench";
import "./encryption.bench";
import "./broker.bench";
import "./fleet.bench";

const filter = process.argv.slice(2).find((arg) => arg !== "--");
const header = `# authpool benchmarks — node ${process.version}, ${new Date().toISOString()}`;
const machine = `${availableParallelism()} cores, ${cpus()[0]?.model ?? "unknown cpu"}, ${platform()} ${arch()}`;
console.log(header);
const report: string[] = [
	header,
	"",
	`Machine: ${machine}. Ratios are against baselines measured in the same run; absolute times depend on the machine.`,
	...(filter ? [`Filtered run: only sections whose name contains "${filter}".`] : []),
];
const results: Array<{ name: string; text: string; tables: RecordedTable[] }> = [];
for (const s of sections) {
	if (filter && !s.name.includes(filter)) continue;
	const before = recordedTables.length;
	const text = await s.run();
	console.log(text);
	report.push(text);
	results.push({ name: s.name, text, tables: recordedTables.slice(before) });
}
const here = dirname(fileURLToPath(import.meta.url));
writeFileSync(
	join(here, "results.json"),
	`${JSON.stringify({ node: process.version, date: new Date().toISOString(), machine, filter: filter ?? null, sections: results }, null, "\t")}\n`,
);
writeFileSync(join(here, "RESULTS.md"), `${report.join("\n")}\n`);
console.log(`\nwrote bench/results.json and bench/RESULTS.md (${results.length} sections)`);
