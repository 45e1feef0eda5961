/**
 * Tiny benchmark harness: each case runs in batches; we report the median ns/op of the batches, so a noisy
 * neighbour on this 2-core machine skews one batch, not the result. Results are meant to be read as ratios
 * against baselines measured in the same run, never as absolute budgets.
 */
export interface BenchResult {
	name: string;
	nsPerOp: number;
	ops: number;
}

export interface BenchOptions {
	/** Operations per batch. @default 20_000 */
	iterations?: number;
	/** Batches; the median is reported. @default 7 */
	batches?: number;
	/** Un-timed warm-up operations. @default iterations / 4 */
	warmup?: number;
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.floor(sorted.length / 2)]!;
}

/** Measure an async (or sync) operation sequentially. */
export async function bench(
	name: string,
	op: () => unknown | Promise<unknown>,
	options: BenchOptions = {},
): Promise<BenchResult> {
	const iterations = options.iterations ?? 20_000;
	const batches = options.batches ?? 7;
	const warmup = options.warmup ?? Math.ceil(iterations / 4);
	for (let i = 0; i < warmup; i += 1) await op();
	const samples: number[] = [];
	for (let b = 0; b < batches; b += 1) {
		const start = process.hrtime.bigint();
		for (let i = 0; i < iterations; i += 1) await op();
		const elapsed = Number(process.hrtime.bigint() - start);
		samples.push(elapsed / iterations);
	}
	return { name, nsPerOp: median(samples), ops: iterations * batches };
}

/** A table as `table()` formatted it, kept for bench/results.json. */
export interface RecordedTable {
	title: string;
	baseline: { name: string; nsPerOp: number };
	rows: Array<{ name: string; nsPerOp: number; ratio: number }>;
}

/** Every table formatted in this run, in order (run.ts writes them to bench/results.json). */
export const recordedTables: RecordedTable[] = [];

/** Format a table of results with a ratio column against `baseline` (and record it for results.json). */
export function table(title: string, results: BenchResult[], baseline: BenchResult): string {
	recordedTables.push({
		title,
		baseline: { name: baseline.name, nsPerOp: baseline.nsPerOp },
		rows: results.map((result) => ({
			name: result.name,
			nsPerOp: result.nsPerOp,
			ratio: result.nsPerOp / baseline.nsPerOp,
		})),
	});
	const lines = [`\n## ${title}`, "", "| case | ns/op | × baseline |", "|---|---:|---:|"];
	for (const result of results) {
		lines.push(`| ${result.name} | ${result.nsPerOp.toFixed(0)} | ${(result.nsPerOp / baseline.nsPerOp).toFixed(2)} |`);
	}
	lines.push("", `baseline: ${baseline.name} = ${baseline.nsPerOp.toFixed(0)} ns/op`);
	return lines.join("\n");
}
