/** The `authpool` command line: argument parsing, help with examples, and exit codes. */
import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import { Command, CommanderError, Option } from "commander";
import type { CommandContext } from "./context";
import { EXIT, toCliError } from "./errors";
import { IMPORT_SOURCES } from "./importers/sources";
import { createOutput } from "./output";
import type { GlobalOptions } from "./pool";

export interface CliIo {
	argv: string[];
	env: Record<string, string | undefined>;
	stdin: Readable & { isTTY?: boolean };
	stdout: NodeJS.WritableStream & { isTTY?: boolean };
	stderr: NodeJS.WritableStream;
	signal: AbortSignal;
}

// Command modules load on use, so `--help` and argument errors start fast.
const credentials = () => import("./commands/credentials");
const inspect = () => import("./commands/inspect");

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;

const EXIT_CODES = `
Exit codes:
  0  success
  1  a runtime failure (an upstream answered an error, a login failed, …)
  2  bad usage or bad input (unknown provider or option, malformed JSON, unreadable file)
  3  the store could not be opened or used (or its encryption keys do not fit)
  4  a named credential or file does not exist
  5  check: at least one credential is unhealthy
  130 interrupted
`;

const ENVIRONMENT = `
Environment:
  AUTHPOOL_STORE_URL        store URL used when --store is not given
  AUTHPOOL_BROKER_TOKEN     bearer token of a broker+http(s):// store (or --broker-token-file)
  AUTHPOOL_REDIS_URL        Redis layer in front of the store, when --redis is not given
  AUTHPOOL_ENCRYPTION_KEYS  id:base64key,… encryption at rest (first = active; AUTHPOOL_ENCRYPTION_ACTIVE_KEY overrides)
  AUTHPOOL_GATEWAY_TOKENS   client tokens of \`authpool gateway\` (comma-separated)
  AUTHPOOL_BROKER_{ADMIN,CLIENT,METRICS}_TOKEN  tokens of \`authpool serve\` (also --*-token-file)
  NO_COLOR                  no colour, even on a terminal
`;

/** Run the CLI; resolves to the exit code. Never throws. */
export async function runCli(io: CliIo): Promise<number> {
	let exitCode: number = EXIT.OK;
	const jsonRequested = io.argv.includes("--json");
	const fail = (error: unknown) => {
		const e = toCliError(error);
		const out = createOutput(jsonRequested, io);
		if (jsonRequested) out.data({ error: e.message, exitCode: e.exitCode });
		io.stderr.write(`authpool: ${e.message}\n`);
		return e.exitCode;
	};
	const context = (command: Command): CommandContext => {
		const global = command.optsWithGlobals() as GlobalOptions;
		return { env: io.env, stdin: io.stdin, out: createOutput(!!global.json, io), global, signal: io.signal };
	};
	const action =
		<A extends unknown[]>(fn: (ctx: CommandContext, ...args: A) => Promise<number>) =>
		async (...args: unknown[]) => {
			const command = args[args.length - 1] as Command;
			const rest = args.slice(0, -1) as A;
			exitCode = await fn(context(command), ...rest);
		};

	const program = new Command("authpool")
		.description("Manage pools of LLM credentials: API keys and OAuth logins, quota-aware and rotation-safe.")
		.version(readVersion(), "-v, --version")
		.option(
			"--store <url>",
			"store URL: sqlite:/path/file.db (default: $XDG_DATA_HOME/authpool/authpool.db), postgres://… or broker+https://host:port",
		)
		.option("--broker-token-file <path>", "token of a broker+… store, instead of AUTHPOOL_BROKER_TOKEN")
		.option("--redis <url>", "Redis layer in front of a sqlite/postgres store: redis://host:6379[?prefix=name]")
		.option("--json", "machine-readable output on stdout")
		.option("--show-secrets", "print keys and tokens instead of their fingerprints")
		.option("--key-file <path>", "encryption keys (id:base64key per line), instead of AUTHPOOL_ENCRYPTION_KEYS")
		.showSuggestionAfterError(true)
		.configureOutput({
			writeOut: (s) => io.stdout.write(s),
			writeErr: (s) => io.stderr.write(s),
			outputError: (s, write) => write(`authpool: ${s.replace(/^error: /, "")}`),
		})
		.exitOverride()
		.addHelpText(
			"after",
			examples([
				"authpool import                       # pick up Claude Code, Codex, Gemini CLI, opencode logins",
				"authpool add anthropic --api-key -    # read the key from stdin",
				"authpool list",
				"authpool usage --watch",
				"authpool demo                         # the whole story offline",
			]) +
				ENVIRONMENT +
				EXIT_CODES,
		);

	program
		.command("add")
		.description("store an API key or OAuth tokens for a provider")
		.argument("<provider>", "provider id (anthropic, openai-codex, google-gemini-cli, zai, …)")
		.addOption(new Option("--api-key <key>", 'the key; "-" reads stdin, "@file" reads a file').conflicts("oauthJson"))
		.option("--oauth-json <json>", 'tokens {"access","refresh","expires",…}; "-" reads stdin, "@file" reads a file')
		.addHelpText(
			"after",
			examples([
				'printf %s "$ANTHROPIC_API_KEY" | authpool add anthropic --api-key -',
				"authpool add zai --api-key @zai-key.txt",
				"authpool add openai-codex --oauth-json @tokens.json --json",
			]),
		)
		.action(
			action(async (ctx, provider: string, opts: { apiKey?: string; oauthJson?: string }) =>
				(await credentials()).addCommand(ctx, provider, opts),
			),
		);

	program
		.command("import")
		.description("import logins other tools keep on this machine (all found ones by default)")
		.argument("[sources...]", `any of: ${IMPORT_SOURCES.join(", ")}`)
		.option("--file <path>", "read this file instead of the source's usual location (one source)")
		.option("--dry-run", "show what would be imported, write nothing")
		.addHelpText(
			"after",
			`\nSources and where they are read:
  claude-code  ~/.claude/.credentials.json          (anthropic)
  codex        ~/.codex/auth.json                   (openai-codex; OPENAI_API_KEY → openai)
  gemini-cli   ~/.gemini/oauth_creds.json           (google-gemini-cli; project from GOOGLE_CLOUD_PROJECT)
  opencode     ~/.local/share/opencode/auth.json    (anthropic, openai-codex, github-copilot, API keys)
  oh-my-pi     ~/.omp/agent/agent.db                (every active row; opened read-only)
${examples(["authpool import --dry-run", "authpool import claude-code codex", "authpool import codex --file ./backup/auth.json"])}`,
		)
		.action(
			action(async (ctx, sources: string[], opts: { file?: string; dryRun?: boolean }) =>
				(await credentials()).importCommand(ctx, sources, opts),
			),
		);

	program
		.command("login")
		.description("log in with a provider's browser or device-code flow and store the tokens")
		.argument("<provider>", "anthropic, openai-codex, github-copilot, kimi-code, …")
		.addHelpText(
			"after",
			examples([
				"authpool login anthropic     # open the URL, paste the code shown",
				"authpool login github-copilot # device code",
			]),
		)
		.action(action(async (ctx, provider: string) => (await credentials()).loginCommand(ctx, provider)));

	program
		.command("list")
		.alias("ls")
		.description("list stored credentials (fingerprints, not secrets)")
		.argument("[provider]", "only this provider")
		.option("--all", "include removed and disabled credentials, with the reason")
		.addHelpText(
			"after",
			examples(["authpool list", "authpool list anthropic --all", "authpool list --json | jq '.credentials[].id'"]),
		)
		.action(
			action(async (ctx, provider: string | undefined, opts: { all?: boolean }) =>
				(await credentials()).listCommand(ctx, provider, opts),
			),
		);

	program
		.command("remove")
		.alias("rm")
		.description("remove credentials (soft delete: kept as a tombstone for inspection)")
		.argument("[ids...]", "credential ids (see authpool list)")
		.option("--provider <id>", "remove every credential of this provider")
		.option("-y, --yes", "do not ask for confirmation (required when not on a terminal)")
		.addHelpText("after", examples(["authpool remove 3", "authpool remove --provider zai --yes"]))
		.action(
			action(async (ctx, ids: string[], opts: { provider?: string; yes?: boolean }) =>
				(await credentials()).removeCommand(ctx, ids, opts),
			),
		);

	program
		.command("check")
		.description("probe every credential (refreshing expired logins first) and report its health")
		.argument("[provider]", "only this provider")
		.addHelpText(
			"after",
			examples(["authpool check", "authpool check anthropic --json"]) + "\nExits 5 when a credential failed.\n",
		)
		.action(action(async (ctx, provider: string | undefined) => (await inspect()).checkCommand(ctx, provider)));

	program
		.command("usage")
		.description("quota per account: each limit as a bar with % used and time to reset")
		.argument("[provider]", "only this provider")
		.option("-w, --watch", "redraw until Ctrl-C")
		.option("--interval <seconds>", "refresh interval of --watch", "30")
		.addHelpText(
			"after",
			examples(["authpool usage", "authpool usage anthropic --watch --interval 60", "authpool usage --json"]),
		)
		.action(
			action(async (ctx, provider: string | undefined, opts: { watch?: boolean; interval?: string }) =>
				(await inspect()).usageCommand(ctx, provider, opts),
			),
		);

	program
		.command("history")
		.description("recorded usage over time (at most one sample per account and limit per hour)")
		.argument("[provider]", "only this provider")
		.option("--since <duration>", "how far back: 30m, 12h, 7d", "7d")
		.addHelpText("after", examples(["authpool history", "authpool history openai-codex --since 30d --json"]))
		.action(
			action(async (ctx, provider: string | undefined, opts: { since?: string }) =>
				(await inspect()).historyCommand(ctx, provider, opts),
			),
		);

	const keys = program
		.command("keys")
		.description("encryption at rest (keys from AUTHPOOL_ENCRYPTION_KEYS or --key-file)")
		.addHelpText(
			"after",
			examples([
				'AUTHPOOL_ENCRYPTION_KEYS="k1:$(openssl rand -base64 32)" authpool keys migrate',
				'AUTHPOOL_ENCRYPTION_KEYS="k2:<new>,k1:<old>" authpool keys rotate',
			]),
		);
	keys
		.command("rotate")
		.description("re-seal every row under the active (first) key; old keys stay readable")
		.addHelpText("after", examples(['AUTHPOOL_ENCRYPTION_KEYS="k2:<new>,k1:<old>" authpool keys rotate']))
		.action(action(async (ctx) => (await import("./commands/keys")).keysCommand(ctx, "rotate")));
	keys
		.command("migrate")
		.description("seal a store written in plaintext under the active key")
		.addHelpText("after", examples(["authpool keys migrate --key-file ~/.config/authpool/keys"]))
		.action(action(async (ctx) => (await import("./commands/keys")).keysCommand(ctx, "migrate")));

	const policy = program
		.command("policy")
		.description("a provider's account selection policy: priority (stored) and selection/reserve (per instance)")
		.addHelpText(
			"after",
			`\nOnly the account priority is stored (every instance and restart uses it). The selection mode
(balanced|fixed) and the reserve/reclaim lines are options of each running instance: \`policy set\` checks
them and shows them, it does not store them; \`policy show\` prints which is which.
${examples(["authpool policy show anthropic", "authpool policy set anthropic --priority work@example.com,2"])}`,
		);
	policy
		.command("show")
		.description("print the stored priority and the per-instance options")
		.argument("<provider>", "provider id")
		.addHelpText("after", examples(["authpool policy show anthropic", "authpool policy show openai-codex --json"]))
		.action(
			action(async (ctx, provider: string) => (await import("./commands/policy")).policyShowCommand(ctx, provider)),
		);
	policy
		.command("set")
		.description("store the account priority; check selection/reserve/reclaim (per-instance, not stored)")
		.argument("<provider>", "provider id")
		.option(
			"--priority <selectors...>",
			"row ids, account ids or emails, best first (comma or space separated; stored)",
		)
		.option("--clear-priority", "remove the stored priority (all accounts equal)")
		.option("--selection <mode>", "balanced | fixed (per-instance option, not stored)")
		.option("--reserve <pct>", "headroom % below which an account is kept in reserve (per-instance, not stored)")
		.option(
			"--reclaim <pct>",
			"headroom % at which sessions return to a better account; above --reserve (per-instance)",
		)
		.addHelpText(
			"after",
			examples([
				"authpool policy set anthropic --priority work@example.com 3",
				"authpool policy set anthropic --clear-priority --json",
				"authpool policy set anthropic --selection fixed --reserve 10 --reclaim 40   # check only",
			]),
		)
		.action(
			action(async (ctx, provider: string, opts: import("./commands/policy").PolicySetOptions) =>
				(await import("./commands/policy")).policySetCommand(ctx, provider, opts),
			),
		);

	program
		.command("gateway")
		.description("run the OpenAI/Anthropic-style reverse proxy over the pool")
		.option("--host <address>", "address to listen on", "127.0.0.1")
		.option("--port <port>", "port to listen on", "8787")
		.option(
			"--upstream <spec...>",
			"prefix=provider@https://host[#anthropic|#openai] (default: anthropic, openai, openai-codex)",
		)
		.addHelpText(
			"after",
			`\nClients send one of AUTHPOOL_GATEWAY_TOKENS as their API key; the gateway swaps in a pool key per request,
rotates on 429/401 and answers an honest Retry-After when every account is limited. Session headers honoured:
x-authpool-session, x-claude-code-session-id, session_id, conversation_id, x-opencode-session, x-session-id.
${examples([
	"AUTHPOOL_GATEWAY_TOKENS=$(openssl rand -hex 16) authpool gateway --port 8787",
	"ANTHROPIC_BASE_URL=http://127.0.0.1:8787/anthropic ANTHROPIC_API_KEY=<gateway token> claude",
])}`,
		)
		.action(
			action(async (ctx, opts: { host?: string; port?: string; upstream?: string[] }) =>
				(await import("./commands/gateway")).gatewayCommand(ctx, opts),
			),
		);

	program
		.command("serve")
		.description("run the auth broker over the store: clients get access tokens, refresh tokens stay here")
		.option("--bind <host:port>", "address to listen on (0 picks a free port)", "127.0.0.1:8765")
		.option("--admin-token-file <path...>", "file(s) holding an admin token (read and write)")
		.option("--client-token-file <path...>", "file(s) holding a client token (read and refresh)")
		.option("--metrics-token-file <path...>", "file(s) holding a metrics token (GET /metrics)")
		.option("--admin-token-hash <sha256...>", "admin token as sha256:<hex> (authpool-broker-hash-token)")
		.option("--client-token-hash <sha256...>", "client token as sha256:<hex>")
		.option("--metrics-token-hash <sha256...>", "metrics token as sha256:<hex>")
		.option("--tls-cert <file>", "serve HTTPS with this PEM certificate (with --tls-key)")
		.option("--tls-key <file>", "PEM key of --tls-cert")
		.addHelpText(
			"after",
			`\nTokens are never flag values: give files, sha256 hashes, or the environment variables
AUTHPOOL_BROKER_ADMIN_TOKEN, AUTHPOOL_BROKER_CLIENT_TOKEN, AUTHPOOL_BROKER_METRICS_TOKEN. A non-loopback
--bind needs at least one token; a loopback bind without tokens serves every caller as admin.
Stops cleanly on Ctrl-C / SIGTERM.
${examples([
	"openssl rand -hex 16 > client.token && authpool serve --bind 0.0.0.0:8765 --client-token-file client.token",
	"AUTHPOOL_BROKER_TOKEN=$(cat client.token) authpool --store broker+http://broker:8765 list",
	"AUTHPOOL_BROKER_ADMIN_TOKEN=<token> authpool --store postgres://db/auth serve --json",
])}`,
		)
		.action(
			action(async (ctx, opts: import("./commands/serve").ServeOptions) =>
				(await import("./commands/serve")).serveCommand(ctx, opts),
			),
		);

	program
		.command("demo")
		.description("the whole story offline: fake provider, three accounts, gateway, a limit hit, a refresh, usage")
		.option("--requests <n>", "requests in the burst", "40")
		.option("--keep", "keep the demo's temp dir")
		.addHelpText("after", examples(["authpool demo", "npm run demo   # from a clone of the repository"]))
		.action(
			action(async (ctx, opts: { requests?: string; keep?: boolean }) =>
				(await import("./commands/demo")).demoCommand(ctx, opts),
			),
		);

	try {
		await program.parseAsync(io.argv, { from: "user" });
		return exitCode;
	} catch (error) {
		if (error instanceof CommanderError) {
			if (
				error.code === "commander.helpDisplayed" ||
				error.code === "commander.version" ||
				error.code === "commander.help"
			) {
				return EXIT.OK;
			}
			if (error.code === "commander.executeSubCommandAsync") return EXIT.FAILURE;
			return EXIT.USAGE;
		}
		return fail(error);
	}
}

function readVersion(): string {
	try {
		return (createRequire(import.meta.url)("../package.json") as { version: string }).version;
	} catch {
		return "0.0.0";
	}
}
