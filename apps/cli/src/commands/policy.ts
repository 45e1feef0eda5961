/**
 * `policy show` / `policy set`: a provider's account selection policy. Only the account priority is
 * persisted (in the store, for every instance); the selection mode and reserve/reclaim lines are options
 * of each running instance, so `set` checks them and reports them, it does not store them.
 */
import type { AccountPolicy, AccountSelectionMode } from "@authpool/core";
import type { CommandContext } from "../context";
import { accountOf } from "../describe";
import { CliError, EXIT } from "../errors";
import { type OpenPool, openPool, requireProvider, storeSpec } from "../pool";

const BROKER_NO_SETTINGS =
	"a broker store does not carry provider settings: run policy against the broker's own store (sqlite/postgres)";

export interface PolicySetOptions {
	priority?: string[];
	clearPriority?: boolean;
	selection?: string;
	reserve?: string;
	reclaim?: string;
}

const NOT_PERSISTED =
	"selection, reserve and reclaim are per-instance options (AuthStorage accountPolicies / setAccountSelection / setAccountReserve); only the priority is stored";

function pct(value: string | undefined, flag: string): number | undefined {
	if (value === undefined) return undefined;
	const n = Number(value);
	if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100) {
		throw new CliError(`${flag}: expected a percentage 0-100, got "${value.slice(0, 40)}"`, EXIT.USAGE);
	}
	return n;
}

/** A selector: a row id (digits) or an account id / email. */
function selectorOf(value: string): number | string {
	const trimmed = value.trim();
	if (trimmed === "") throw new CliError("--priority: empty selector", EXIT.USAGE);
	return /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

function describePolicy(pool: OpenPool, provider: string, policy: AccountPolicy) {
	const rows = pool.storage.listStoredCredentials(provider);
	const priority = policy.accountPriority.map((selector, i) => {
		const row = rows.find((r) =>
			typeof selector === "number"
				? r.id === selector
				: [accountOf(r.credential), r.credential.type === "oauth" ? r.credential.accountId : undefined]
						.filter((v): v is string => typeof v === "string")
						.some((v) => v.toLowerCase() === selector.toLowerCase()),
		);
		return { rank: i + 1, selector, ...(row ? { id: row.id } : {}) };
	});
	return {
		provider,
		store: pool.target.label,
		persisted:
			pool.target.kind === "broker"
				? { accountPriority: [], unavailable: BROKER_NO_SETTINGS }
				: { accountPriority: priority },
		options: {
			accountSelection: policy.accountSelection,
			reservePct: policy.reservePct,
			...(policy.reclaimAbovePct !== undefined ? { reclaimAbovePct: policy.reclaimAbovePct } : {}),
		},
		note: NOT_PERSISTED,
	};
}

function print(ctx: CommandContext, view: ReturnType<typeof describePolicy>, extra?: string): void {
	if (ctx.out.json) {
		ctx.out.data(view);
		return;
	}
	const c = ctx.out.color;
	if (extra) ctx.out.line(extra);
	ctx.out.line(`${c.bold(view.provider)} (store ${view.store})`);
	ctx.out.line(`Stored in the store (every instance, every restart):`);
	if ("unavailable" in view.persisted) ctx.out.line(`  priority     ${c.yellow(view.persisted.unavailable)}`);
	else if (view.persisted.accountPriority.length === 0)
		ctx.out.line(`  priority     ${c.dim("none (all accounts equal)")}`);
	for (const p of view.persisted.accountPriority) {
		ctx.out.line(
			`  priority ${String(p.rank).padStart(2)}  ${p.selector}${p.id !== undefined ? ` (row ${p.id})` : ""}`,
		);
	}
	ctx.out.line(`Per-instance options (not stored; each process sets its own):`);
	ctx.out.line(`  selection    ${view.options.accountSelection}`);
	ctx.out.line(`  reserve      ${view.options.reservePct}%`);
	ctx.out.line(
		`  reclaim      ${view.options.reclaimAbovePct !== undefined ? `${view.options.reclaimAbovePct}%` : "off"}`,
	);
}

export async function policyShowCommand(ctx: CommandContext, provider: string): Promise<number> {
	requireProvider(provider, ctx.env);
	const pool = await openPool(ctx.global, ctx.env);
	try {
		print(ctx, describePolicy(pool, provider, pool.storage.getAccountPolicy(provider)));
		return EXIT.OK;
	} finally {
		await pool.close();
	}
}

export async function policySetCommand(
	ctx: CommandContext,
	provider: string,
	options: PolicySetOptions,
): Promise<number> {
	requireProvider(provider, ctx.env);
	// Everything is checked before the store is opened: bad input writes nothing.
	let selection: AccountSelectionMode | undefined;
	if (options.selection !== undefined) {
		if (options.selection !== "balanced" && options.selection !== "fixed") {
			throw new CliError(
				`--selection: expected balanced or fixed, got "${options.selection.slice(0, 40)}"`,
				EXIT.USAGE,
			);
		}
		selection = options.selection;
	}
	const reservePct = pct(options.reserve, "--reserve");
	const reclaimAbovePct = pct(options.reclaim, "--reclaim");
	if (reclaimAbovePct !== undefined && reclaimAbovePct <= (reservePct ?? 0)) {
		throw new CliError(`--reclaim: must be above --reserve (${reservePct ?? 0})`, EXIT.USAGE);
	}
	if (options.priority && options.clearPriority) {
		throw new CliError("--priority and --clear-priority exclude each other", EXIT.USAGE);
	}
	const selectors = options.priority?.flatMap((p) => p.split(",")).map(selectorOf);
	if (
		!selectors &&
		!options.clearPriority &&
		selection === undefined &&
		reservePct === undefined &&
		reclaimAbovePct === undefined
	) {
		throw new CliError(
			"policy set: give --priority, --clear-priority, --selection, --reserve or --reclaim",
			EXIT.USAGE,
		);
	}
	if ((selectors || options.clearPriority) && storeSpec(ctx.global, ctx.env).target.kind === "broker") {
		throw new CliError(`policy set: ${BROKER_NO_SETTINGS}`, EXIT.USAGE);
	}
	const pool = await openPool(ctx.global, ctx.env);
	try {
		// Per-instance settings first (they throw on anything core refuses, e.g. reclaim without usage data).
		if (selection !== undefined) pool.storage.setAccountSelection(provider, selection);
		if (reservePct !== undefined || reclaimAbovePct !== undefined) {
			pool.storage.setAccountReserve(provider, {
				...(reservePct !== undefined ? { reservePct } : {}),
				...(reclaimAbovePct !== undefined ? { reclaimAbovePct } : {}),
			});
		}
		if (selectors) await pool.storage.setAccountPriority(provider, selectors);
		else if (options.clearPriority) await pool.storage.setAccountPriority(provider, []);
		const view = describePolicy(pool, provider, pool.storage.getAccountPolicy(provider));
		const stored = selectors || options.clearPriority;
		const onlyInstance = selection !== undefined || reservePct !== undefined || reclaimAbovePct !== undefined;
		if (ctx.out.json) {
			ctx.out.data({ ...view, stored: !!stored });
			return EXIT.OK;
		}
		print(
			ctx,
			view,
			[
				stored ? "Priority stored." : undefined,
				onlyInstance
					? "Selection/reserve/reclaim checked and shown below, but not stored: set them on the serving process."
					: undefined,
			]
				.filter(Boolean)
				.join(" "),
		);
		return EXIT.OK;
	} finally {
		await pool.close();
	}
}
