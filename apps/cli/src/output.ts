/**
 * Human and machine output. Colour only when stdout is a TTY and `NO_COLOR` is unset (or
 * `FORCE_COLOR` asks for it); `--json` prints one JSON document on stdout and nothing decorative.
 */
import { createHash } from "node:crypto";
import Table from "cli-table3";
import pc from "picocolors";

export type Colors = ReturnType<typeof pc.createColors>;

export interface Output {
	readonly json: boolean;
	readonly color: Colors;
	readonly colorEnabled: boolean;
	/** stdout is a terminal (progress bars, `--watch` redraws). */
	readonly interactive: boolean;
	/** A line of human output on stdout (suppressed under `--json`). */
	line(text?: string): void;
	/** A note on stderr (progress, hints); suppressed under `--json`. */
	note(text: string): void;
	/** The JSON document of a `--json` run. */
	data(value: unknown): void;
	/** Raw write to stdout (redraws). */
	write(text: string): void;
}

export interface OutputStreams {
	stdout: NodeJS.WritableStream & { isTTY?: boolean };
	stderr: NodeJS.WritableStream;
	env: Record<string, string | undefined>;
}

export function createOutput(json: boolean, streams: OutputStreams): Output {
	const interactive = streams.stdout.isTTY === true;
	const forced = streams.env.FORCE_COLOR !== undefined && streams.env.FORCE_COLOR !== "0";
	const noColor = streams.env.NO_COLOR !== undefined && streams.env.NO_COLOR !== "";
	const colorEnabled = !json && !noColor && (interactive || forced);
	return {
		json,
		color: pc.createColors(colorEnabled),
		colorEnabled,
		interactive,
		line: (text = "") => {
			if (!json) streams.stdout.write(`${text}\n`);
		},
		note: (text) => {
			if (!json) streams.stderr.write(`${text}\n`);
		},
		data: (value) => {
			streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
		},
		write: (text) => {
			streams.stdout.write(text);
		},
	};
}

/** An aligned table (no borders, like `gh`'s lists). */
export function table(head: string[], rows: string[][], color: Colors): string {
	const t = new Table({
		head: head.map((h) => color.bold(h)),
		chars: {
			top: "",
			"top-mid": "",
			"top-left": "",
			"top-right": "",
			bottom: "",
			"bottom-mid": "",
			"bottom-left": "",
			"bottom-right": "",
			left: "",
			"left-mid": "",
			mid: "",
			"mid-mid": "",
			right: "",
			"right-mid": "",
			middle: "  ",
		},
		style: { head: [], border: [], "padding-left": 0, "padding-right": 0 },
	});
	for (const row of rows) t.push(row);
	return t
		.toString()
		.split("\n")
		.map((l) => l.trimEnd())
		.join("\n");
}

/** `[######----]  62%` coloured by how full it is. */
export function bar(fraction: number | undefined, color: Colors, width = 20): string {
	if (fraction === undefined || Number.isNaN(fraction)) return `${color.dim("·".repeat(width))}    ?`;
	const clamped = Math.max(0, Math.min(1, fraction));
	const filled = Math.round(clamped * width);
	const paint = fraction >= 1 ? color.red : fraction >= 0.8 ? color.yellow : color.green;
	const pct = `${Math.round(fraction * 100)}%`.padStart(4);
	return `${paint("█".repeat(filled))}${color.dim("░".repeat(width - filled))} ${pct}`;
}

/** `3h 12m`, `45s`, `2d 4h` — time until `at` from `now`. */
export function duration(ms: number): string {
	if (ms <= 0) return "now";
	const s = Math.round(ms / 1000);
	if (s < 60) return `${s}s`;
	const m = Math.floor(s / 60);
	if (m < 60) return `${m}m`;
	const h = Math.floor(m / 60);
	if (h < 48) return `${h}h ${m % 60}m`;
	return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A secret as a short fingerprint (`sha256:1a2b3c4d`); `--show-secrets` prints it whole. */
export function maskSecret(value: string, show: boolean): string {
	if (show) return value;
	return `sha256:${createHash("sha256").update(value).digest("hex").slice(0, 8)}`;
}
