/**
 * The offline demo (`npm run demo`, `authpool demo`): a fake provider, a SQLite pool in a temp dir,
 * three accounts, the gateway, a burst of requests, a limit hit and the pool rotating away, a token
 * refresh, and the usage table. Everything runs on 127.0.0.1; nothing reaches a real provider.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthStorage } from "@authpool/core";
import { startFakeProvider } from "@authpool/fake-provider";
import { type Gateway, startGateway } from "@authpool/gateway";
import { createSqliteStore } from "@authpool/store-sqlite";
import { SingleBar } from "cli-progress";
import { collectUsage, renderUsage } from "../commands/inspect";
import type { Output } from "../output";
import { fakeProviderPlugins } from "../plugins-load";

/** A page served next to the gateway (the broker's dashboard plugs in here). */
export type DemoDashboardHook = (pool: {
	storage: AuthStorage;
	gateway: Gateway;
}) => Promise<{ url: string; close(): Promise<void> }>;

export interface DemoOptions {
	out: Output;
	/** Requests in the burst. @default 40 */
	requests?: number;
	/** Parallel clients. @default 4 */
	concurrency?: number;
	/** Keep the temp dir (its path is printed). @default false */
	keep?: boolean;
	/** Serves a dashboard over the demo's pool; its URL is printed at the end. */
	dashboard?: DemoDashboardHook;
}

export interface DemoResult {
	storePath: string;
	requests: number;
	ok: number;
	/** Requests answered 429 because every account was limited. */
	exhausted: number;
	rotations: number;
	/** Successful requests per account email. */
	byAccount: Record<string, number>;
	refreshes: number;
	/** Email of the account that hit its limit. */
	limited: string;
	usageAccounts: number;
	dashboardUrl?: string;
	elapsedMs: number;
}

const EMAILS = ["alice@example.com", "bob@example.com", "carol@example.com"] as const;

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
	const started = performance.now();
	const { out } = options;
	const c = out.color;
	const total = options.requests ?? 40;
	const concurrency = options.concurrency ?? 4;
	const dir = mkdtempSync(join(tmpdir(), "authpool-demo-"));
	const storePath = join(dir, "authpool.db");
	const step = (n: number, text: string) => out.line(`\n${c.bold(c.cyan(`${n}.`))} ${c.bold(text)}`);

	out.line(c.bold("authpool demo") + c.dim(" — offline: a local fake provider stands in for Claude's API"));
	const fake = await startFakeProvider({ streamChunkDelayMs: 2 });
	let storage: AuthStorage | undefined;
	let gateway: Gateway | undefined;
	let dashboard: { url: string; close(): Promise<void> } | undefined;
	try {
		step(1, "A pool in an embedded SQLite file");
		const store = await createSqliteStore({ path: storePath });
		storage = new AuthStorage(store, { providers: fakeProviderPlugins(fake.url), sourceLabel: `sqlite:${storePath}` });
		await storage.reload();
		out.line(`   store ${c.dim(storePath)}`);
		out.line(`   fake provider ${c.dim(fake.url)}`);

		step(2, "Three Claude accounts");
		// alice has a small quota (she will hit it); carol's access token is about to expire.
		const alice = fake.addAccount("anthropic", { email: EMAILS[0], quota: 2, windowMs: 5 * 3_600_000, plan: "pro" });
		// bob and carol have already used part of their window, so the pool ranks alice first.
		const bob = fake.addAccount("anthropic", {
			email: EMAILS[1],
			quota: 1_000,
			windowMs: 5 * 3_600_000,
			plan: "max",
			usage: { primary: { usedPercent: 45 } },
		});
		const carol = fake.addAccount("anthropic", {
			email: EMAILS[2],
			quota: 1_000,
			windowMs: 5 * 3_600_000,
			plan: "max",
			accessTokenTtlMs: 30_000,
			usage: { primary: { usedPercent: 60 } },
		});
		for (const account of [alice, bob, carol]) {
			await storage.upsertCredential("anthropic", account.credential);
			out.line(`   ${c.green("+")} anthropic ${account.email}`);
		}
		const idByAccount = new Map(
			storage
				.listStoredCredentials("anthropic")
				.map((row) => [row.credential.type === "oauth" ? row.credential.email : "", row.id]),
		);

		step(3, "The gateway in front of the pool");
		const token = randomBytes(18).toString("base64url");
		gateway = await startGateway({
			storage,
			tokens: [token],
			upstreams: [
				{ prefix: "anthropic", provider: "anthropic", baseUrl: fake.baseUrl("anthropic"), style: "anthropic" },
			],
		});
		out.line(`   ${gateway.url}/anthropic  →  a pool key per request, 429/401 rotate and retry`);
		out.line(
			c.dim(`   (a client would use ANTHROPIC_BASE_URL=${gateway.url}/anthropic and the gateway token as its key)`),
		);

		step(4, `A burst of ${total} requests from ${concurrency * 2} sessions`);
		const byFakeAccount = new Map<string, number>();
		let ok = 0;
		let exhausted = 0;
		let done = 0;
		const progress =
			out.interactive && !out.json
				? new SingleBar({ format: "   {bar} {value}/{total} requests · {status}", hideCursor: true })
				: undefined;
		progress?.start(total, 0, { status: "" });
		const send = async (i: number) => {
			const session = `demo-session-${i % (concurrency * 2)}`;
			const response = await fetch(`${gateway?.url}/anthropic/v1/messages`, {
				method: "POST",
				headers: { "content-type": "application/json", "x-api-key": token, "x-claude-code-session-id": session },
				body: JSON.stringify({ model: "claude-demo", stream: i % 2 === 0, max_tokens: 16 }),
			});
			const text = await response.text();
			if (response.status === 200) {
				ok++;
				const id = /"fakeAccountId":"([^"]+)"/.exec(text)?.[1];
				if (id) byFakeAccount.set(id, (byFakeAccount.get(id) ?? 0) + 1);
			} else if (response.status === 429) exhausted++;
			done++;
			const stats = gateway?.stats();
			const status = `${ok} ok · ${stats?.rotations ?? 0} rotations`;
			if (progress) progress.update(done, { status });
			else if (done % 10 === 0 || done === total)
				out.line(`   ${String(done).padStart(3)}/${total} requests · ${status}`);
		};
		let next = 0;
		await Promise.all(
			Array.from({ length: concurrency }, async () => {
				while (next < total) await send(next++);
			}),
		);
		progress?.stop();

		const stats = gateway.stats();
		step(5, "An account hit its limit; the pool rotated away");
		const alice429 = fake.requests.some((r) => r.accountId === alice.id && r.status === 429);
		out.line(
			alice429
				? `   ${c.yellow(EMAILS[0])} answered 429 after ${fake.inferenceCount(alice.id)} requests (its quota) → blocked until its window resets`
				: `   ${EMAILS[0]} did not reach its quota in this burst`,
		);
		out.line(`   the gateway rotated ${stats.rotations} time(s); clients saw ${ok} × 200 and ${exhausted} × 429`);
		const byAccount: Record<string, number> = {};
		for (const account of [alice, bob, carol])
			byAccount[account.email ?? account.id] = byFakeAccount.get(account.id) ?? 0;
		for (const [email, n] of Object.entries(byAccount))
			out.line(`   ${email.padEnd(20)} ${"▇".repeat(Math.ceil(n / 2))} ${n}`);

		step(6, "A token refresh");
		// carol's access token is due: the next request for her session refreshes it first (single-flight, persisted).
		fake.expireAccessToken(carol.id);
		const carolRow = idByAccount.get(EMAILS[2]);
		const before = fake.refreshCount(carol.id);
		if (carolRow !== undefined) await storage.refreshCredentialById(carolRow);
		const refreshes = fake.refreshCount(carol.id);
		out.line(
			`   ${EMAILS[2]}: access token expired → refreshed (${refreshes - before} token request, new refresh token stored before use)`,
		);
		const probe = await fetch(`${gateway.url}/anthropic/v1/messages`, {
			method: "POST",
			headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
			body: JSON.stringify({ model: "claude-demo" }),
		});
		await probe.text();
		out.line(`   a request after the refresh: ${probe.status === 200 ? c.green("200") : c.red(String(probe.status))}`);

		step(7, "Usage per account");
		const usage = await collectUsage(storage, "anthropic", new AbortController().signal);
		out.line(renderUsage(c, usage, Date.now()).replace(/^(?=.)/gm, "   "));

		if (options.dashboard) {
			dashboard = await options.dashboard({ storage, gateway });
			out.line(`\n${c.bold("Dashboard:")} ${dashboard.url}`);
		}
		const elapsedMs = performance.now() - started;
		out.line(
			`\n${c.green("✓")} Demo finished in ${(elapsedMs / 1000).toFixed(1)} s. Try the CLI on your own logins: ${c.bold("authpool import")}, ${c.bold("authpool usage")}.`,
		);
		return {
			storePath,
			requests: total,
			ok,
			exhausted,
			rotations: stats.rotations,
			byAccount,
			refreshes: refreshes - before,
			limited: EMAILS[0],
			usageAccounts: usage.length,
			...(dashboard ? { dashboardUrl: dashboard.url } : {}),
			elapsedMs,
		};
	} finally {
		await dashboard?.close().catch(() => {});
		await gateway?.close().catch(() => {});
		await storage?.close().catch(() => {});
		await fake.close().catch(() => {});
		if (options.keep) out.line(c.dim(`(kept ${dir})`));
		else rmSync(dir, { recursive: true, force: true });
	}
}
