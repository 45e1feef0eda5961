/** `add`, `import`, `login`, `list`, `remove`. */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { createInterface } from "node:readline";
import type { AuthCredential, OAuthCredential, StoredAuthCredential } from "@authpool/core";
import { type CommandContext, readStdin } from "../context";
import { accountOf, blockedUntilById, statusText, viewOf } from "../describe";
import { CliError, EXIT } from "../errors";
import {
	type FoundCredential,
	IMPORT_SOURCES,
	type ImportSource,
	presentSources,
	readSource,
	type ScanResult,
} from "../importers/importers";
import { duration, table } from "../output";
import { type OpenPool, openPool, requireProvider } from "../pool";

/** Providers without a usage plugin that still take API keys (the gateway can serve them). */
export const API_KEY_PROVIDERS = ["openai", "openrouter", "groq", "mistral", "deepseek", "xai"] as const;

function requireAddableProvider(provider: string, env: Record<string, string | undefined>): void {
	if ((API_KEY_PROVIDERS as readonly string[]).includes(provider)) return;
	requireProvider(provider, env);
}

async function valueArg(ctx: CommandContext, value: string, what: string): Promise<string> {
	let text = value;
	if (value === "-") text = await readStdin(ctx.stdin);
	else if (value.startsWith("@")) {
		try {
			text = readFileSync(value.slice(1), "utf8");
		} catch (error) {
			const code = (error as NodeJS.ErrnoException).code;
			throw new CliError(
				`${what}: cannot read ${value.slice(1)} (${code ?? "error"})`,
				code === "ENOENT" ? EXIT.NOT_FOUND : EXIT.USAGE,
			);
		}
	}
	return text.trim();
}

/** Parse `--oauth-json`: `{ access, refresh, expires, email?, accountId?, projectId?, … }`. */
export function parseOAuthJson(text: string): OAuthCredential {
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		throw new CliError("--oauth-json: not valid JSON", EXIT.USAGE);
	}
	if (typeof value !== "object" || value === null || Array.isArray(value)) {
		throw new CliError("--oauth-json: expected a JSON object", EXIT.USAGE);
	}
	const v = value as Record<string, unknown>;
	const missing = ["access", "refresh"].filter((k) => typeof v[k] !== "string" || v[k] === "");
	if (missing.length > 0) throw new CliError(`--oauth-json: missing ${missing.join(", ")} (strings)`, EXIT.USAGE);
	if (typeof v.expires !== "number" || !Number.isFinite(v.expires) || v.expires <= 0) {
		throw new CliError("--oauth-json: expires must be a positive number (epoch ms)", EXIT.USAGE);
	}
	const { type: _type, ...rest } = v;
	const expires = v.expires < 1e11 ? v.expires * 1000 : v.expires;
	return { ...rest, type: "oauth", expires } as OAuthCredential;
}

function sameSecret(a: AuthCredential, b: AuthCredential): boolean {
	if (a.type === "api_key") return b.type === "api_key" && a.key === b.key;
	return b.type === "oauth" && a.refresh === b.refresh;
}

/** Upsert by identity (same account → same row); an API key already stored is left as it is. */
async function store(
	pool: OpenPool,
	provider: string,
	credential: AuthCredential,
): Promise<{ row: StoredAuthCredential; added: boolean }> {
	const existing = pool.storage.listStoredCredentials(provider).find((r) => sameSecret(credential, r.credential));
	if (existing && credential.type === "api_key") return { row: existing, added: false };
	const before = new Set(pool.storage.listStoredCredentials(provider).map((r) => r.id));
	await pool.storage.upsertCredential(provider, credential);
	const rows = pool.storage.listStoredCredentials(provider);
	const row = rows.find((r) => sameSecret(credential, r.credential)) ?? rows[rows.length - 1];
	if (!row) throw new CliError("the store did not keep the credential", EXIT.STORE);
	return { row, added: !before.has(row.id) };
}

export async function addCommand(
	ctx: CommandContext,
	provider: string,
	options: { apiKey?: string; oauthJson?: string },
): Promise<number> {
	requireAddableProvider(provider, ctx.env);
	if ((options.apiKey === undefined) === (options.oauthJson === undefined)) {
		throw new CliError("add: give exactly one of --api-key or --oauth-json", EXIT.USAGE);
	}
	let credential: AuthCredential;
	if (options.apiKey !== undefined) {
		const key = await valueArg(ctx, options.apiKey, "--api-key");
		if (key === "") throw new CliError("--api-key: empty key", EXIT.USAGE);
		credential = { type: "api_key", key };
	} else {
		credential = parseOAuthJson(await valueArg(ctx, options.oauthJson as string, "--oauth-json"));
	}
	const pool = await openPool(ctx.global, ctx.env);
	try {
		const { row, added } = await store(pool, provider, credential);
		const account = accountOf(row.credential);
		if (ctx.out.json) ctx.out.data({ id: row.id, provider, type: credential.type, account: account ?? null, added });
		else {
			const verb = added ? "Added" : credential.type === "api_key" ? "Already stored:" : "Updated";
			ctx.out.line(
				`${ctx.out.color.green("✓")} ${verb} ${provider} ${credential.type === "api_key" ? "API key" : "login"} #${row.id}${account ? ` (${account})` : ""}`,
			);
		}
		return EXIT.OK;
	} finally {
		await pool.close();
	}
}

export async function importCommand(
	ctx: CommandContext,
	sources: string[],
	options: { file?: string; dryRun?: boolean },
): Promise<number> {
	for (const s of sources) {
		if (!(IMPORT_SOURCES as readonly string[]).includes(s)) {
			throw new CliError(`unknown import source "${s}" (known: ${IMPORT_SOURCES.join(", ")})`, EXIT.USAGE);
		}
	}
	if (options.file && sources.length !== 1) {
		throw new CliError(
			"import: --file needs exactly one source (e.g. authpool import codex --file auth.json)",
			EXIT.USAGE,
		);
	}
	const where = { home: ctx.env.HOME || homedir(), env: ctx.env, now: Date.now() };
	const wanted = sources.length > 0 ? (sources as ImportSource[]) : presentSources(where);
	// Read everything first: one bad file means nothing is written.
	const results: ScanResult[] = [];
	for (const source of wanted) results.push(await readSource(source, where, options.file));
	const found: FoundCredential[] = results.flatMap((r) => r.found);
	const skipped = results.flatMap((r) => r.skipped);
	if (wanted.length === 0) {
		if (ctx.out.json) ctx.out.data({ imported: [], skipped: [], sources: [] });
		else ctx.out.line(`No logins found (looked for ${IMPORT_SOURCES.join(", ")} in their usual places).`);
		return EXIT.OK;
	}
	const imported: Array<{
		source: string;
		provider: string;
		id: number | null;
		account: string | null;
		added: boolean;
	}> = [];
	if (options.dryRun) {
		for (const f of found)
			imported.push({ source: f.source, provider: f.provider, id: null, account: f.label ?? null, added: false });
	} else if (found.length > 0) {
		const pool = await openPool(ctx.global, ctx.env);
		try {
			for (const f of found) {
				const { row, added } = await store(pool, f.provider, f.credential);
				imported.push({
					source: f.source,
					provider: f.provider,
					id: row.id,
					account: accountOf(row.credential) ?? null,
					added,
				});
			}
		} finally {
			await pool.close();
		}
	}
	if (ctx.out.json) {
		ctx.out.data({
			sources: wanted,
			imported,
			skipped: skipped.map((s) => ({ source: s.source, reason: s.reason })),
			dryRun: !!options.dryRun,
		});
		return EXIT.OK;
	}
	const c = ctx.out.color;
	for (const [i, item] of imported.entries()) {
		const note = found[i]?.note;
		const what = options.dryRun ? "would import" : item.added ? "imported" : "updated";
		ctx.out.line(
			`${c.green("✓")} ${item.source}: ${what} ${item.provider}${item.id !== null ? ` #${item.id}` : ""}${item.account ? ` (${item.account})` : ""}${note ? c.yellow(` — ${note}`) : ""}`,
		);
	}
	for (const s of skipped) ctx.out.line(`${c.dim("-")} ${s.source}: skipped ${s.reason}`);
	if (imported.length === 0) ctx.out.line("Nothing to import.");
	return EXIT.OK;
}

function lineReader(ctx: CommandContext) {
	const rl = createInterface({ input: ctx.stdin, terminal: false });
	const lines: string[] = [];
	const waiters: Array<(line: string | undefined) => void> = [];
	let closed = false;
	rl.on("line", (line) => {
		const w = waiters.shift();
		if (w) w(line);
		else lines.push(line);
	});
	rl.on("close", () => {
		closed = true;
		for (const w of waiters.splice(0)) w(undefined);
	});
	return {
		next(): Promise<string | undefined> {
			const line = lines.shift();
			if (line !== undefined) return Promise.resolve(line);
			if (closed) return Promise.resolve(undefined);
			return new Promise((resolve) => waiters.push(resolve));
		},
		close: () => rl.close(),
	};
}

export async function loginCommand(ctx: CommandContext, provider: string): Promise<number> {
	requireProvider(provider, ctx.env);
	const pool = await openPool(ctx.global, ctx.env);
	const plugin = pool.plugins.find((p) => p.id === provider);
	if (!plugin?.oauth?.login) {
		await pool.close();
		throw new CliError(
			`${provider} has no login flow here; add a key with: authpool add ${provider} --api-key -`,
			EXIT.USAGE,
		);
	}
	const reader = lineReader(ctx);
	const before = new Set(pool.storage.listStoredCredentials(provider).map((r) => `${r.id}:${r.version}`));
	const c = ctx.out.color;
	// Prompts and URLs go to stderr so `--json` stdout stays one document.
	const say = (text: string) => process.stderr.write(`${text}\n`);
	try {
		await pool.storage.login(provider, {
			onAuth: ({ url, instructions }) => {
				say(`${c.bold("Open this URL to log in:")}\n  ${url}`);
				if (instructions) say(instructions);
			},
			onProgress: (message) => say(c.dim(message)),
			onPrompt: async ({ message, allowEmpty }) => {
				say(`${message} `);
				const line = await reader.next();
				if (line === undefined) throw new CliError("login: input ended before an answer was given", EXIT.USAGE);
				if (!allowEmpty && line.trim() === "") throw new CliError("login: empty answer", EXIT.USAGE);
				return line.trim();
			},
			signal: ctx.signal,
		});
		const rows = pool.storage.listStoredCredentials(provider);
		const row = rows.find((r) => !before.has(`${r.id}:${r.version}`)) ?? rows[rows.length - 1];
		const account = row ? accountOf(row.credential) : undefined;
		if (ctx.out.json) ctx.out.data({ provider, id: row?.id ?? null, account: account ?? null });
		else
			ctx.out.line(
				`${c.green("✓")} Logged in to ${provider}${row ? ` as #${row.id}` : ""}${account ? ` (${account})` : ""}`,
			);
		return EXIT.OK;
	} finally {
		reader.close();
		await pool.close();
	}
}

export async function listCommand(
	ctx: CommandContext,
	provider: string | undefined,
	options: { all?: boolean },
): Promise<number> {
	if (provider) requireAddableProvider(provider, ctx.env);
	const pool = await openPool(ctx.global, ctx.env);
	try {
		const now = Date.now();
		const blocked = blockedUntilById(pool.storage, now);
		const show = !!ctx.global.showSecrets;
		const views = pool.storage
			.listStoredCredentials(provider)
			.map((row) => viewOf(row, { showSecrets: show, blockedUntil: blocked.get(row.id) }));
		if (options.all) {
			for (const row of await pool.store.rows.listDisabled(provider))
				views.push(viewOf(row, { showSecrets: show, disabled: true }));
			views.sort((a, b) => a.id - b.id);
		}
		if (ctx.out.json) {
			ctx.out.data({ store: pool.target.label, credentials: views });
			return EXIT.OK;
		}
		if (views.length === 0) {
			ctx.out.line(
				`No credentials in ${pool.target.label}. Add one with \`authpool add\`, \`authpool import\` or \`authpool login\`.`,
			);
			return EXIT.OK;
		}
		const c = ctx.out.color;
		const rows = views.map((v) => [
			String(v.id),
			v.provider,
			v.type === "api_key" ? "api key" : "oauth",
			v.account ?? c.dim("-"),
			v.status === "active"
				? c.green(statusText(v, now))
				: v.status === "blocked"
					? c.yellow(statusText(v, now))
					: c.red(statusText(v, now)),
			v.expires !== undefined
				? v.expires > now
					? `in ${duration(v.expires - now)}`
					: "expired (refreshes on use)"
				: c.dim("-"),
			v.key ?? v.access ?? "",
		]);
		ctx.out.line(
			table(["ID", "PROVIDER", "TYPE", "ACCOUNT", "STATUS", "TOKEN EXPIRES", show ? "SECRET" : "FINGERPRINT"], rows, c),
		);
		return EXIT.OK;
	} finally {
		await pool.close();
	}
}

export async function removeCommand(
	ctx: CommandContext,
	ids: string[],
	options: { provider?: string; yes?: boolean },
): Promise<number> {
	if (ids.length === 0 && !options.provider)
		throw new CliError("remove: give credential ids or --provider <id>", EXIT.USAGE);
	const numeric = ids.map((id) => {
		if (!/^[1-9]\d{0,15}$/.test(id))
			throw new CliError(`remove: "${id}" is not a credential id (see authpool list)`, EXIT.USAGE);
		return Number(id);
	});
	if (options.provider) requireAddableProvider(options.provider, ctx.env);
	if (!options.yes && !ctx.stdin.isTTY)
		throw new CliError("remove: pass --yes to confirm when not on a terminal", EXIT.USAGE);
	const pool = await openPool(ctx.global, ctx.env);
	try {
		const rows = pool.storage.listStoredCredentials();
		const targets = numeric.map((id) => {
			const row = rows.find((r) => r.id === id);
			if (!row) throw new CliError(`remove: no active credential #${id}`, EXIT.NOT_FOUND);
			return row;
		});
		if (options.provider)
			targets.push(...rows.filter((r) => r.provider === options.provider && !numeric.includes(r.id)));
		if (!options.yes) {
			const reader = lineReader(ctx);
			process.stderr.write(`Remove ${targets.map((t) => `${t.provider} #${t.id}`).join(", ")}? [y/N] `);
			const answer = (await reader.next())?.trim().toLowerCase();
			reader.close();
			if (answer !== "y" && answer !== "yes") {
				ctx.out.note("Nothing removed.");
				return EXIT.FAILURE;
			}
		}
		const removed: number[] = [];
		for (const row of targets) if (await pool.storage.removeCredential(row.provider, row.id)) removed.push(row.id);
		if (ctx.out.json) ctx.out.data({ removed });
		else for (const id of removed) ctx.out.line(`${ctx.out.color.green("✓")} Removed #${id}`);
		if (removed.length === 0 && !ctx.out.json) ctx.out.line("Nothing to remove.");
		return EXIT.OK;
	} finally {
		await pool.close();
	}
}
