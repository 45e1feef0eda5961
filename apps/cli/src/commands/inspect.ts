/** `check`, `usage`, `history`. */
import type { AuthStorage, CredentialHealthResult, UsageReport } from "@authpool/core";
import { SingleBar } from "cli-progress";
import type { CommandContext } from "../context";
import { accountOf } from "../describe";
import { CliError, EXIT } from "../errors";
import { bar, type Colors, duration, table } from "../output";
import { openPool, requireProvider } from "../pool";

export async function checkCommand(ctx: CommandContext, provider: string | undefined): Promise<number> {
	if (provider) requireProvider(provider, ctx.env);
	const pool = await openPool(ctx.global, ctx.env);
	try {
		const total = pool.storage.listStoredCredentials(provider).length;
		const c = ctx.out.color;
		const progress =
			!ctx.out.json && ctx.out.interactive && total > 0
				? new SingleBar({ format: " checking {bar} {value}/{total} {row}", hideCursor: true, clearOnComplete: true })
				: undefined;
		progress?.start(total, 0, { row: "" });
		const results = await pool.storage.checkCredentials({
			...(provider ? { provider } : {}),
			signal: ctx.signal,
			onProgress: (done, all, result) => {
				if (progress) progress.update(done, { row: `${result.provider} #${result.id}` });
				else ctx.out.note(`[${done}/${all}] ${result.provider} #${result.id}: ${mark(result)}`);
			},
		});
		progress?.stop();
		const unhealthy = results.filter((r) => r.ok === false).length;
		if (ctx.out.json) {
			ctx.out.data({
				ok: unhealthy === 0,
				results: results.map(({ report: _report, ...rest }) => rest),
			});
		} else if (results.length === 0) {
			ctx.out.line("No credentials to check.");
		} else {
			const rows = results.map((r) => [
				String(r.id),
				r.provider,
				r.email ?? r.accountId ?? c.dim("-"),
				r.ok === true ? c.green("ok") : r.ok === false ? c.red("failed") : c.yellow("unverified"),
				r.reason ?? "",
			]);
			ctx.out.line(table(["ID", "PROVIDER", "ACCOUNT", "HEALTH", "REASON"], rows, c));
			const unverified = results.filter((r) => r.ok === null).length;
			ctx.out.line(
				`\n${results.length - unhealthy - unverified} ok, ${unhealthy} failed, ${unverified} could not be verified from here`,
			);
		}
		return unhealthy > 0 ? EXIT.UNHEALTHY : EXIT.OK;
	} finally {
		await pool.close();
	}
}

function mark(result: CredentialHealthResult): string {
	if (result.ok === true) return "ok";
	if (result.ok === false) return `failed (${result.reason ?? "unknown"})`;
	return `unverified (${result.reason ?? "no usage endpoint"})`;
}

export interface AccountUsage {
	provider: string;
	credentialIds: number[];
	account: string;
	report: Omit<UsageReport, "raw">;
}

export async function collectUsage(
	storage: AuthStorage,
	provider: string | undefined,
	signal: AbortSignal,
): Promise<AccountUsage[]> {
	const reports = await storage.fetchUsageReports({ signal });
	const rows = storage.listStoredCredentials(provider);
	const out: AccountUsage[] = [];
	for (const { raw: _raw, ...report } of reports) {
		if (provider && report.provider !== provider) continue;
		const meta = report.metadata ?? {};
		const email = typeof meta.email === "string" ? meta.email : undefined;
		const accountId = typeof meta.accountId === "string" ? meta.accountId : undefined;
		const matching = rows.filter((r) => {
			if (r.provider !== report.provider || r.credential.type !== "oauth") return false;
			const cred = r.credential;
			return (email && accountOf(cred) === email) || (accountId && cred.accountId === accountId);
		});
		out.push({
			provider: report.provider,
			credentialIds: matching.map((r) => r.id),
			account: email ?? accountId ?? (matching[0] ? (accountOf(matching[0].credential) ?? "") : ""),
			report,
		});
	}
	return out;
}

export function renderUsage(c: Colors, usage: AccountUsage[], now: number): string {
	if (usage.length === 0) return "No usage reports (no stored account has a usage endpoint, or none answered).";
	const blocks: string[] = [];
	for (const u of usage) {
		const plan = typeof u.report.metadata?.planType === "string" ? c.dim(` · ${u.report.metadata.planType}`) : "";
		const ids = u.credentialIds.length > 0 ? c.dim(` (#${u.credentialIds.join(", #")})`) : "";
		const head = `${c.bold(u.provider)} ${u.account}${ids}${plan}`;
		const rows = u.report.limits.map((limit) => {
			const fraction =
				limit.amount.usedFraction ??
				(limit.amount.unit === "percent" && limit.amount.used !== undefined ? limit.amount.used / 100 : undefined);
			const resets = limit.window?.resetsAt;
			return [
				limit.label,
				bar(fraction, c),
				resets ? `resets in ${duration(resets - now)}` : c.dim("-"),
				limit.status === "exhausted" ? c.red("exhausted") : limit.status === "warning" ? c.yellow("warning") : "",
			];
		});
		blocks.push(
			rows.length > 0
				? `${head}\n${indent(table(["LIMIT", "USED", "RESET", ""], rows, c))}`
				: `${head}\n  ${c.dim("no limits reported")}`,
		);
	}
	return blocks.join("\n\n");
}

const indent = (text: string) =>
	text
		.split("\n")
		.map((l) => `  ${l}`)
		.join("\n");

export async function usageCommand(
	ctx: CommandContext,
	provider: string | undefined,
	options: { watch?: boolean; interval?: string },
): Promise<number> {
	if (provider) requireProvider(provider, ctx.env);
	const intervalS = options.interval === undefined ? 30 : Number(options.interval);
	if (!Number.isFinite(intervalS) || intervalS < 1) throw new CliError("--interval: seconds, at least 1", EXIT.USAGE);
	if (options.watch && ctx.out.json) throw new CliError("--watch cannot be combined with --json", EXIT.USAGE);
	const pool = await openPool(ctx.global, ctx.env);
	try {
		for (;;) {
			const usage = await collectUsage(pool.storage, provider, ctx.signal);
			const now = Date.now();
			if (ctx.out.json) {
				ctx.out.data({ fetchedAt: now, accounts: usage });
				return EXIT.OK;
			}
			if (options.watch && ctx.out.interactive) ctx.out.write("\x1b[2J\x1b[H");
			ctx.out.line(renderUsage(ctx.out.color, usage, now));
			if (!options.watch) return EXIT.OK;
			ctx.out.line(
				ctx.out.color.dim(`\nupdated ${new Date(now).toLocaleTimeString()} · every ${intervalS}s · Ctrl-C to stop`),
			);
			const stopped = await new Promise<boolean>((resolve) => {
				const timer = setTimeout(() => resolve(false), intervalS * 1000);
				ctx.signal.addEventListener("abort", () => {
					clearTimeout(timer);
					resolve(true);
				});
			});
			if (stopped) return EXIT.OK;
			await pool.storage.pollChanges();
		}
	} finally {
		await pool.close();
	}
}

/** `7d`, `12h`, `30m` → ms. */
export function parseSince(text: string): number {
	const m = /^(\d+)([smhd])$/.exec(text.trim());
	if (!m) throw new CliError(`--since: expected a duration like 30m, 12h or 7d, got "${text}"`, EXIT.USAGE);
	const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
	return Number(m[1]) * unit;
}

export async function historyCommand(
	ctx: CommandContext,
	provider: string | undefined,
	options: { since?: string },
): Promise<number> {
	if (provider) requireProvider(provider, ctx.env);
	const sinceMs = Date.now() - parseSince(options.since ?? "7d");
	const pool = await openPool(ctx.global, ctx.env);
	try {
		const entries = await pool.storage.listUsageHistory({ ...(provider ? { provider } : {}), sinceMs });
		if (ctx.out.json) {
			ctx.out.data({ sinceMs, entries });
			return EXIT.OK;
		}
		if (entries.length === 0) {
			ctx.out.line("No usage history in that period (history is recorded when usage is fetched, at most hourly).");
			return EXIT.OK;
		}
		const c = ctx.out.color;
		const rows = entries.map((e) => [
			new Date(e.recordedAt).toISOString().replace("T", " ").slice(0, 16),
			e.provider,
			e.email ?? e.accountId ?? c.dim("-"),
			e.windowLabel ? `${e.label} (${e.windowLabel})` : e.label,
			bar(e.usedFraction, c, 12),
			e.status ?? "",
		]);
		ctx.out.line(table(["RECORDED (UTC)", "PROVIDER", "ACCOUNT", "LIMIT", "USED", "STATUS"], rows, c));
		return EXIT.OK;
	} finally {
		await pool.close();
	}
}
