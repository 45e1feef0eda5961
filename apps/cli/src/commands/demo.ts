/** `authpool demo`. */
import type { CommandContext } from "../context";
import { runDemo } from "../demo/demo";
import { CliError, EXIT } from "../errors";

export async function demoCommand(
	ctx: CommandContext,
	options: { requests?: string; keep?: boolean },
): Promise<number> {
	const requests = options.requests === undefined ? 40 : Number(options.requests);
	if (!Number.isInteger(requests) || requests < 20 || requests > 10_000) {
		throw new CliError("--requests: a whole number from 20 to 10000", EXIT.USAGE);
	}
	const result = await runDemo({ out: ctx.out, requests, ...(options.keep ? { keep: true } : {}) });
	if (ctx.out.json) ctx.out.data(result);
	return result.rotations > 0 && result.ok > 0 ? EXIT.OK : EXIT.FAILURE;
}
