/**
 * `pnpm bench`: micro-benchmarks of the hot path and of the stores, each reported as a ratio against
 * baselines measured in the same process (this machine is noisy: only ratios mean anything).
 *
 *   pnpm bench            # everything
 *   pnpm bench sqlite     # only the sections whose name contains "sqlite"
 */
import { sections } from "./common";
import "./core.bench";
import "./selection.bench";
import "./sqlite.bench";

const filter = process.argv.slice(2).find((arg) => arg !== "--");
console.log(`# authpool benchmarks — node ${process.version}, ${new Date().toISOString()}`);
for (const s of sections) {
	if (filter && !s.name.includes(filter)) continue;
	console.log(await s.run());
}
