import type { Readable } from "node:stream";
import type { Output } from "./output";
import type { GlobalOptions } from "./pool";

/** What every command gets: the process's streams and environment, injected so tests can drive them. */
export interface CommandContext {
	env: Record<string, string | undefined>;
	stdin: Readable & { isTTY?: boolean };
	out: Output;
	global: GlobalOptions;
	/** Set by a signal handler; long-running commands stop when it aborts. */
	signal: AbortSignal;
}

/** Read all of stdin as text (for `--api-key -`, `--oauth-json -`). */
export async function readStdin(stdin: Readable): Promise<string> {
	const chunks: Buffer[] = [];
	for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
	return Buffer.concat(chunks).toString("utf8");
}
