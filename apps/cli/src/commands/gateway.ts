/** `authpool gateway`: the reverse proxy over the pool, until Ctrl-C. */
import { type GatewayUpstream, startGateway } from "@authpool/gateway";
import type { CommandContext } from "../context";
import { CliError, EXIT, toCliError } from "../errors";
import { openPool } from "../pool";

/** The APIs served when no `--upstream` is given. */
export function defaultUpstreams(env: Record<string, string | undefined>): GatewayUpstream[] {
	const fake = env.AUTHPOOL_FAKE_PROVIDER_URL?.replace(/\/+$/, "");
	const at = (provider: string, real: string) => (fake ? `${fake}/${provider}` : real);
	return [
		{
			prefix: "anthropic",
			provider: "anthropic",
			baseUrl: at("anthropic", "https://api.anthropic.com"),
			style: "anthropic",
		},
		{ prefix: "openai", provider: "openai", baseUrl: at("openai", "https://api.openai.com"), style: "openai" },
		{
			prefix: "openai-codex",
			provider: "openai-codex",
			baseUrl: at("openai-codex", "https://chatgpt.com/backend-api/codex"),
			style: "openai",
		},
	];
}

/** `prefix=provider@https://host[/base][#anthropic|#openai]`. */
export function parseUpstream(spec: string): GatewayUpstream {
	const m = /^([a-z0-9][a-z0-9._-]*)=([a-z0-9][a-z0-9._-]*)@(https?:\/\/[^#\s]+)(?:#(anthropic|openai))?$/.exec(spec);
	if (!m) {
		throw new CliError(
			`--upstream: expected prefix=provider@https://host[#anthropic|#openai], got "${spec.slice(0, 80)}"`,
			EXIT.USAGE,
		);
	}
	const [, prefix, provider, baseUrl, style] = m as unknown as [string, string, string, string, string | undefined];
	return {
		prefix,
		provider,
		baseUrl,
		style: style === "anthropic" || (!style && provider === "anthropic") ? "anthropic" : "openai",
	};
}

export async function gatewayCommand(
	ctx: CommandContext,
	options: { host?: string; port?: string; upstream?: string[] },
): Promise<number> {
	const port = options.port === undefined ? 8787 : Number(options.port);
	if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new CliError("--port: 0-65535", EXIT.USAGE);
	const upstreams = options.upstream?.length ? options.upstream.map(parseUpstream) : defaultUpstreams(ctx.env);
	const tokens = (ctx.env.AUTHPOOL_GATEWAY_TOKENS ?? "")
		.split(",")
		.map((t) => t.trim())
		.filter(Boolean);
	const tokenHashes = (ctx.env.AUTHPOOL_GATEWAY_TOKEN_HASHES ?? "")
		.split(",")
		.map((t) => t.trim().toLowerCase())
		.filter(Boolean);
	if (tokens.length === 0 && tokenHashes.length === 0) {
		throw new CliError(
			"gateway: set AUTHPOOL_GATEWAY_TOKENS (client tokens, comma-separated) or AUTHPOOL_GATEWAY_TOKEN_HASHES (hex SHA-256)",
			EXIT.USAGE,
		);
	}
	const pool = await openPool(ctx.global, ctx.env);
	let gateway: Awaited<ReturnType<typeof startGateway>>;
	try {
		gateway = await startGateway({
			storage: pool.storage,
			upstreams,
			tokens,
			tokenHashes,
			bind: { host: options.host ?? "127.0.0.1", port },
		});
	} catch (error) {
		await pool.close();
		const e = toCliError(error);
		throw new CliError(
			`gateway: ${e.message}`,
			(error as { code?: string }).code === "EADDRINUSE" ? EXIT.FAILURE : e.exitCode,
		);
	}
	if (ctx.out.json) {
		ctx.out.data({
			url: gateway.url,
			routes: upstreams.map((u) => ({ path: `/${u.prefix}`, provider: u.provider, upstream: u.baseUrl })),
		});
	} else {
		const c = ctx.out.color;
		ctx.out.line(`${c.green("●")} Gateway on ${c.bold(gateway.url)} (store ${pool.target.label})`);
		for (const u of upstreams) ctx.out.line(`  ${gateway.url}/${u.prefix}  →  ${u.provider} (${u.baseUrl})`);
		ctx.out.line(c.dim("Clients send a gateway token as their API key. Ctrl-C to stop."));
	}
	await new Promise<void>((resolve) => {
		if (ctx.signal.aborted) resolve();
		ctx.signal.addEventListener("abort", () => resolve());
	});
	await gateway.close();
	await pool.close();
	return EXIT.OK;
}
