#!/usr/bin/env node
import { main } from "../dist/index.js";

try {
	const { stop } = await main();
	for (const signal of ["SIGINT", "SIGTERM"]) {
		process.once(signal, () => {
			stop().then(
				() => process.exit(0),
				() => process.exit(1),
			);
		});
	}
} catch (error) {
	// Errors of this app never carry secrets; print only the message and code.
	const code = error && typeof error === "object" && "code" in error ? ` (${String(error.code)})` : "";
	process.stderr.write(`authpool-broker: ${error instanceof Error ? error.message : String(error)}${code}\n`);
	process.exit(1);
}
