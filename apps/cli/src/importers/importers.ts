/**
 * Readers of the logins other tools keep on this machine. Each returns what it found without
 * writing anything; `import` writes only after every requested file parsed.
 *
 * - Claude Code: `~/.claude/.credentials.json` → `claudeAiOauth { accessToken, refreshToken, expiresAt }`
 * - Codex CLI: `$CODEX_HOME/auth.json` (default `~/.codex`) → `tokens { access_token, refresh_token,
 *   id_token, account_id }` and/or `OPENAI_API_KEY`
 * - Gemini CLI: `~/.gemini/oauth_creds.json` → `{ access_token, refresh_token, expiry_date, id_token }`
 * - opencode: `$XDG_DATA_HOME/opencode/auth.json` (default `~/.local/share`) → `{ <provider>: { type:
 *   "oauth", access, refresh, expires } | { type: "api", key } }`
 * - oh-my-pi: `~/.omp/agent/agent.db` (SQLite, opened read-only) → active `auth_credentials` rows
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type AuthCredential, decodeJwtClaims, jwtIdentity, type OAuthCredential } from "@authpool/core";
import { CliError, EXIT } from "../errors";

import { IMPORT_SOURCES, type ImportSource } from "./sources";

export { IMPORT_SOURCES, type ImportSource };

export interface FoundCredential {
	source: ImportSource;
	file: string;
	provider: string;
	credential: AuthCredential;
	/** Something to show a person (an email, an account id), never a secret. */
	label?: string;
	/** A caveat to show (e.g. a missing Google Cloud project). */
	note?: string;
}

export interface ScanResult {
	found: FoundCredential[];
	/** Entries present but not importable (unsupported provider, wellknown entries, …). */
	skipped: Array<{ source: ImportSource; file: string; reason: string }>;
}

export interface ImportEnv {
	home: string;
	env: Record<string, string | undefined>;
	now: number;
}

/** Where a source's file lives by default. */
export function defaultSourcePath(source: ImportSource, { home, env }: ImportEnv): string {
	switch (source) {
		case "claude-code":
			return join(env.CLAUDE_CONFIG_DIR || join(home, ".claude"), ".credentials.json");
		case "codex":
			return join(env.CODEX_HOME || join(home, ".codex"), "auth.json");
		case "gemini-cli":
			return join(home, ".gemini", "oauth_creds.json");
		case "opencode":
			return join(env.XDG_DATA_HOME || join(home, ".local", "share"), "opencode", "auth.json");
		case "oh-my-pi":
			return join(home, ".omp", "agent", "agent.db");
	}
}

function fail(file: string, why: string): never {
	throw new CliError(`${file}: ${why}`, EXIT.USAGE);
}

function readJson(file: string): Record<string, unknown> {
	let text: string;
	try {
		text = readFileSync(file, "utf8");
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === "ENOENT") throw new CliError(`${file}: no such file`, EXIT.NOT_FOUND);
		throw new CliError(`${file}: cannot read (${code ?? "error"})`, EXIT.USAGE);
	}
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		fail(file, "not valid JSON");
	}
	if (typeof value !== "object" || value === null || Array.isArray(value)) fail(file, "expected a JSON object");
	return value as Record<string, unknown>;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
	typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** Epoch ms from seconds or ms. */
const toMs = (value: number): number => (value < 1e11 ? value * 1000 : value);

/** Expiry from the access token's `exp` claim, else "now" (the pool refreshes it on first use). */
function jwtExpiry(token: string, now: number): number {
	const exp = num(decodeJwtClaims(token)?.exp);
	return exp !== undefined ? toMs(exp) : now;
}

interface OAuthFields {
	access: string;
	refresh: string;
	expires: number;
	accountId?: string | undefined;
	email?: string | undefined;
	projectId?: string | undefined;
	enterpriseUrl?: string | undefined;
}

function oauth(fields: OAuthFields): OAuthCredential {
	const out: OAuthCredential = {
		type: "oauth",
		access: fields.access,
		refresh: fields.refresh,
		expires: fields.expires,
	};
	for (const key of ["accountId", "email", "projectId", "enterpriseUrl"] as const) {
		const value = fields[key];
		if (typeof value === "string" && value !== "") out[key] = value;
	}
	return out;
}

function labelOf(credential: OAuthCredential): string | undefined {
	return credential.email ?? credential.accountId ?? jwtIdentity(credential.access).email;
}

function readClaudeCode(file: string): ScanResult {
	const root = readJson(file);
	const entry = obj(root.claudeAiOauth);
	if (!entry) fail(file, 'no "claudeAiOauth" login in this file');
	const access = str(entry.accessToken);
	const refresh = str(entry.refreshToken);
	const expires = num(entry.expiresAt);
	if (!access || !refresh || expires === undefined) {
		fail(file, "claudeAiOauth needs accessToken, refreshToken and expiresAt");
	}
	const credential = oauth({ access, refresh, expires: toMs(expires) });
	return { found: [{ source: "claude-code", file, provider: "anthropic", credential }], skipped: [] };
}

function readCodex(file: string, now: number): ScanResult {
	const root = readJson(file);
	const found: FoundCredential[] = [];
	const tokens = obj(root.tokens);
	if (tokens) {
		const access = str(tokens.access_token);
		const refresh = str(tokens.refresh_token);
		if (!access || !refresh) fail(file, "tokens needs access_token and refresh_token");
		const identity = jwtIdentity(access);
		const idIdentity = jwtIdentity(str(tokens.id_token));
		const credential = oauth({
			access,
			refresh,
			expires: jwtExpiry(access, now),
			accountId: str(tokens.account_id) ?? identity.accountId ?? idIdentity.accountId,
			email: identity.email ?? idIdentity.email,
		});
		found.push({ source: "codex", file, provider: "openai-codex", credential, label: labelOf(credential) });
	}
	const apiKey = str(root.OPENAI_API_KEY);
	if (apiKey) found.push({ source: "codex", file, provider: "openai", credential: { type: "api_key", key: apiKey } });
	if (found.length === 0) fail(file, "no tokens and no OPENAI_API_KEY in this file");
	return { found, skipped: [] };
}

function readGemini(file: string, env: Record<string, string | undefined>): ScanResult {
	const root = readJson(file);
	const access = str(root.access_token);
	const refresh = str(root.refresh_token);
	if (!access || !refresh) fail(file, "needs access_token and refresh_token");
	const expiry = num(root.expiry_date);
	const email = jwtIdentity(str(root.id_token)).email;
	const projectId = env.GOOGLE_CLOUD_PROJECT || env.GOOGLE_CLOUD_PROJECT_ID;
	const credential = oauth({ access, refresh, expires: expiry !== undefined ? toMs(expiry) : 0, email, projectId });
	const found: FoundCredential = {
		source: "gemini-cli",
		file,
		provider: "google-gemini-cli",
		credential,
		label: labelOf(credential),
	};
	if (!projectId) found.note = "no Google Cloud project: set GOOGLE_CLOUD_PROJECT and import again to refresh it";
	return { found: [found], skipped: [] };
}

/** opencode's provider ids → ours. */
const OPENCODE_OAUTH: Record<string, string> = {
	anthropic: "anthropic",
	openai: "openai-codex",
	"github-copilot": "github-copilot",
	"kimi-for-coding": "kimi-code",
};
const OPENCODE_API: Record<string, string> = {
	anthropic: "anthropic",
	openai: "openai",
	zai: "zai",
	"zai-coding-plan": "zai",
	"opencode-go": "opencode-go",
	ollama: "ollama",
	"kimi-for-coding": "kimi-code",
};

function readOpencode(file: string): ScanResult {
	const root = readJson(file);
	const found: FoundCredential[] = [];
	const skipped: ScanResult["skipped"] = [];
	for (const [id, value] of Object.entries(root)) {
		const entry = obj(value);
		const type = str(entry?.type);
		if (!entry || !type) fail(file, `entry "${id}" is not an object with a type`);
		if (type === "oauth") {
			const provider = OPENCODE_OAUTH[id];
			const access = str(entry.access);
			const refresh = str(entry.refresh);
			const expires = num(entry.expires);
			if (!access || !refresh || expires === undefined) fail(file, `entry "${id}" needs access, refresh and expires`);
			if (!provider) {
				skipped.push({ source: "opencode", file, reason: `${id}: no authpool provider for this login` });
				continue;
			}
			const credential = oauth({
				access,
				refresh,
				expires: toMs(expires),
				accountId: str(entry.accountId),
				enterpriseUrl: str(entry.enterpriseUrl),
			});
			found.push({ source: "opencode", file, provider, credential, label: labelOf(credential) });
		} else if (type === "api") {
			const key = str(entry.key);
			if (!key) fail(file, `entry "${id}" needs a key`);
			const provider = OPENCODE_API[id];
			if (!provider) {
				skipped.push({ source: "opencode", file, reason: `${id}: no authpool provider for this key` });
				continue;
			}
			found.push({ source: "opencode", file, provider, credential: { type: "api_key", key } });
		} else {
			skipped.push({ source: "opencode", file, reason: `${id}: ${type} entries are not importable` });
		}
	}
	return { found, skipped };
}

async function readOhMyPi(file: string): Promise<ScanResult> {
	try {
		statSync(file);
	} catch {
		throw new CliError(`${file}: no such file`, EXIT.NOT_FOUND);
	}
	const { default: Database } = await import("better-sqlite3");
	let db: InstanceType<typeof Database>;
	try {
		db = new Database(file, { readonly: true, fileMustExist: true });
	} catch {
		fail(file, "not a readable SQLite database");
	}
	try {
		let rows: Array<{ provider: string; credential_type: string; data: string }>;
		try {
			rows = db
				.prepare(
					"SELECT provider, credential_type, data FROM auth_credentials WHERE disabled_cause IS NULL ORDER BY id",
				)
				.all() as typeof rows;
		} catch {
			fail(file, "no auth_credentials table (not an oh-my-pi agent.db?)");
		}
		const found: FoundCredential[] = [];
		const skipped: ScanResult["skipped"] = [];
		for (const row of rows) {
			let data: Record<string, unknown> | undefined;
			try {
				data = obj(JSON.parse(row.data));
			} catch {
				data = undefined;
			}
			if (!data) {
				skipped.push({ source: "oh-my-pi", file, reason: `${row.provider}: unreadable row` });
				continue;
			}
			if (row.credential_type === "api_key" && str(data.key)) {
				found.push({
					source: "oh-my-pi",
					file,
					provider: row.provider,
					credential: { type: "api_key", key: str(data.key) as string },
				});
			} else if (
				row.credential_type === "oauth" &&
				str(data.access) &&
				str(data.refresh) &&
				num(data.expires) !== undefined
			) {
				const { type: _type, ...rest } = data;
				const credential = { ...rest, type: "oauth" } as OAuthCredential;
				found.push({ source: "oh-my-pi", file, provider: row.provider, credential, label: labelOf(credential) });
			} else {
				skipped.push({ source: "oh-my-pi", file, reason: `${row.provider}: unsupported ${row.credential_type} row` });
			}
		}
		return { found, skipped };
	} finally {
		db.close();
	}
}

/** Read one source's file (its default location unless `file` is given). */
export async function readSource(source: ImportSource, where: ImportEnv, file?: string): Promise<ScanResult> {
	const path = file ?? defaultSourcePath(source, where);
	switch (source) {
		case "claude-code":
			return readClaudeCode(path);
		case "codex":
			return readCodex(path, where.now);
		case "gemini-cli":
			return readGemini(path, where.env);
		case "opencode":
			return readOpencode(path);
		case "oh-my-pi":
			return readOhMyPi(path);
	}
}

/** Sources whose default file exists. */
export function presentSources(where: ImportEnv): ImportSource[] {
	return IMPORT_SOURCES.filter((source) => {
		try {
			return statSync(defaultSourcePath(source, where)).isFile();
		} catch {
			return false;
		}
	});
}
