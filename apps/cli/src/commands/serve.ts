/** `authpool serve`: the auth broker over the store, until Ctrl-C / SIGTERM. */
import { basename } from "node:path";
import type { BrokerScope, BrokerTokenSpec, BrokerTokens } from "@authpool/broker-server";
import type { CommandContext } from "../context";
import { CliError, EXIT, toCliError } from "../errors";
import { openPool, storeSpec } from "../pool";

export interface ServeOptions {
	bind?: string;
	adminTokenFile?: string[];
	clientTokenFile?: string[];
	metricsTokenFile?: string[];
	adminTokenHash?: string[];
	clientTokenHash?: string[];
	metricsTokenHash?: string[];
	tlsCert?: string;
	tlsKey?: string;
}

/** Environment variables read as plain tokens, by scope. */
export const SERVE_TOKEN_ENV: Record<BrokerScope, string> = {
	admin: "AUTHPOOL_BROKER_ADMIN_TOKEN",
	client: "AUTHPOOL_BROKER_CLIENT_TOKEN",
	metrics: "AUTHPOOL_BROKER_METRICS_TOKEN",
};

/** Tokens from `--<scope>-token-file`, `--<scope>-token-hash` and `AUTHPOOL_BROKER_<SCOPE>_TOKEN`. */
export function serveTokens(options: ServeOptions, env: Record<string, string | undefined>): BrokerTokens {
	const tokens: BrokerTokens = {};
	const sources: Record<BrokerScope, { files?: string[]; hashes?: string[] }> = {
		admin: { files: options.adminTokenFile, hashes: options.adminTokenHash },
		client: { files: options.clientTokenFile, hashes: options.clientTokenHash },
		metrics: { files: options.metricsTokenFile, hashes: options.metricsTokenHash },
	};
	for (const scope of Object.keys(sources) as BrokerScope[]) {
		const specs: BrokerTokenSpec[] = [];
		for (const file of sources[scope].files ?? []) specs.push({ file, name: `${scope}:${basename(file)}` });
		for (const [i, hash] of (sources[scope].hashes ?? []).entries()) {
			if (!/^sha256:[0-9a-f]{64}$/i.test(hash)) {
				throw new CliError(`--${scope}-token-hash: expected sha256:<64 hex>, got #${i + 1} malformed`, EXIT.USAGE);
			}
			specs.push({ hash: hash.toLowerCase(), name: `${scope}-hash-${i + 1}` });
		}
		const envName = SERVE_TOKEN_ENV[scope];
		if (env[envName]?.trim()) specs.push({ env: envName, name: `${scope}:env` });
		if (specs.length > 0) tokens[scope] = specs;
	}
	return tokens;
}

export async function serveCommand(ctx: CommandContext, options: ServeOptions): Promise<number> {
	const bind = options.bind ?? "127.0.0.1:8765";
	if (!/^(?:(?:\[[0-9a-f:.]+\]|[^\s:/]+):)?\d{1,5}$/i.test(bind)) {
		throw new CliError(`--bind: expected host:port or port, got "${bind.slice(0, 60)}"`, EXIT.USAGE);
	}
	if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
		throw new CliError("--tls-cert and --tls-key go together", EXIT.USAGE);
	}
	const tokens = serveTokens(options, ctx.env);
	if (storeSpec(ctx.global, ctx.env).target.kind === "broker") {
		throw new CliError("serve: needs a durable store (sqlite or postgres), not another broker", EXIT.USAGE);
	}
	const { startBroker } = await import("@authpool/broker-server");
	const pool = await openPool(ctx.global, ctx.env);
	let broker: Awaited<ReturnType<typeof startBroker>>;
	try {
		broker = await startBroker({
			storage: pool.storage,
			bind,
			tokens,
			env: { ...ctx.env },
			...(options.tlsCert && options.tlsKey ? { tls: { certFile: options.tlsCert, keyFile: options.tlsKey } } : {}),
			logger: {
				debug: () => {},
				info: () => {},
				warn: (message: string) => ctx.out.note(`warning: ${message}`),
				error: (message: string) => ctx.out.note(`error: ${message}`),
			},
		});
	} catch (error) {
		await pool.close();
		const e = toCliError(error);
		const code = (error as { code?: string }).code;
		throw new CliError(
			`serve: ${e.message}`,
			code === "EADDRINUSE" || code === "EACCES" ? EXIT.FAILURE : code === "INVALID_OPTIONS" ? EXIT.USAGE : e.exitCode,
		);
	}
	const scopes = (Object.keys(tokens) as BrokerScope[]).map((s) => `${s} ×${tokens[s]?.length ?? 0}`);
	if (ctx.out.json) {
		ctx.out.data({
			url: broker.url,
			store: pool.target.label,
			tokens: Object.fromEntries((Object.keys(tokens) as BrokerScope[]).map((s) => [s, tokens[s]?.length ?? 0])),
		});
	} else {
		const c = ctx.out.color;
		ctx.out.line(`${c.green("●")} Broker on ${c.bold(broker.url)} (store ${pool.target.label})`);
		ctx.out.line(
			scopes.length > 0
				? `  tokens: ${scopes.join(", ")}`
				: c.yellow("  no tokens: loopback only, every caller is admin"),
		);
		ctx.out.line(
			c.dim(`Clients: authpool --store broker+${broker.url} list (token in AUTHPOOL_BROKER_TOKEN). Ctrl-C to stop.`),
		);
	}
	await new Promise<void>((resolve) => {
		if (ctx.signal.aborted) resolve();
		ctx.signal.addEventListener("abort", () => resolve());
	});
	await broker.close();
	await pool.close();
	return EXIT.OK;
}
