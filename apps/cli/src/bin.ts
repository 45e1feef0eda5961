#!/usr/bin/env node
import { runCli } from "./program";

// `authpool list | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
	stream.on("error", (error: NodeJS.ErrnoException) => {
		if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
		throw error;
	});
}

const controller = new AbortController();
let interrupted = false;
const stop = () => {
	// A second Ctrl-C exits at once.
	if (interrupted) process.exit(130);
	interrupted = true;
	controller.abort();
	// Long-running commands (gateway, usage --watch, login) stop on the abort; anything else exits shortly.
	setTimeout(() => process.exit(130), 2_000).unref();
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

const code = await runCli({
	argv: process.argv.slice(2),
	env: process.env,
	stdin: process.stdin,
	stdout: process.stdout,
	stderr: process.stderr,
	signal: controller.signal,
});
process.exitCode = interrupted && code === 0 ? 0 : code;
// Pools and sockets are closed by now; do not wait on stray handles (stdin in a pipe, keep-alive agents).
setImmediate(() => process.exit(process.exitCode ?? 0));
