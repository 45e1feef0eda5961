#!/usr/bin/env node
// Prints the configuration hash of a broker token read from stdin (never from argv: shells keep history).
//   printf %s "$TOKEN" | authpool-broker-hash-token
import { hashBrokerToken } from "../dist/index.js";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
try {
	process.stdout.write(`${hashBrokerToken(input)}\n`);
} catch {
	process.stderr.write("authpool-broker-hash-token: the token on stdin is empty or whitespace-only\n");
	process.exitCode = 1;
}
