/**
 * The dashboard's data, built from an `AuthStorage` (and optionally its store, for tombstones). Only
 * labels, emails, ids, states and quota numbers leave here: no token bytes, no key-derived hashes.
 */
import {
	type AuthCredentialStore,
	type AuthStorage,
	type StoredAuthCredential,
	type UsageHistoryEntry,
	type UsageReport,
	usageAccountKey,
} from "@authpool/core";

export interface DashboardBlock {
	/** `""` for a whole-credential block, else the limit scope. */
	scope: string;
	/** Epoch ms the block lifts. */
	until: number;
}

export interface DashboardQuota {
	id: string;
	label: string;
	windowLabel?: string;
	usedFraction?: number;
	used?: number;
	limit?: number;
	unit: string;
	status?: string;
	/** Epoch ms. */
	resetsAt?: number;
}

export interface DashboardAccount {
	id: number;
	provider: string;
	type: "oauth" | "api_key";
	label: string;
	email?: string;
	accountId?: string;
	projectId?: string;
	state: "active" | "blocked" | "disabled";
	/** Latest block end when blocked. */
	blockedUntil?: number;
	blocks: DashboardBlock[];
	disabledCause?: string;
	/** OAuth access token expiry (epoch ms); the token itself is never sent. */
	expiresAt?: number;
	plan?: string;
	quotas: DashboardQuota[];
	/** When the quotas were fetched (epoch ms). */
	usageFetchedAt?: number;
}

export interface DashboardProvider {
	id: string;
	accounts: DashboardAccount[];
}

export interface DashboardState {
	generation: number;
	providers: DashboardProvider[];
}

export interface DashboardHistoryPoint {
	recordedAt: number;
	provider: string;
	/** Row the entry belongs to, when still loaded. */
	credentialId?: number;
	account: string;
	limitId: string;
	label: string;
	windowLabel?: string;
	usedFraction?: number;
}

function str(value: unknown): string | undefined {
	return typeof value === "string" && value.length > 0 ? value : undefined;
}

function identityOf(row: StoredAuthCredential): { email?: string; accountId?: string; projectId?: string } {
	const credential = row.credential;
	if (credential.type !== "oauth") return {};
	return { email: str(credential.email), accountId: str(credential.accountId), projectId: str(credential.projectId) };
}

/** How an account is named everywhere in the dashboard: email, account id, project id, or `API key #<id>`. */
export function labelOf(row: StoredAuthCredential): string {
	const id = identityOf(row);
	return (
		id.email ??
		id.accountId ??
		id.projectId ??
		`${row.credential.type === "api_key" ? "API key" : "account"} #${row.id}`
	);
}

/** Which report describes which row: same provider and email or account id; a lone row takes a lone report. */
export function matchReports(rows: StoredAuthCredential[], reports: UsageReport[]): Map<number, UsageReport> {
	const matched = new Map<number, UsageReport>();
	const byProvider = new Map<string, StoredAuthCredential[]>();
	for (const row of rows) byProvider.set(row.provider, [...(byProvider.get(row.provider) ?? []), row]);
	for (const [provider, providerRows] of byProvider) {
		const candidates = reports.filter((report) => report.provider === provider);
		for (const row of providerRows) {
			const id = identityOf(row);
			const report = candidates.find((candidate) => {
				const email = str(candidate.metadata?.email)?.toLowerCase();
				const accountId = str(candidate.metadata?.accountId);
				return (
					(email !== undefined && email === id.email?.toLowerCase()) ||
					(accountId !== undefined && accountId === id.accountId)
				);
			});
			if (report) matched.set(row.id, report);
		}
		const [onlyRow] = providerRows;
		const [onlyReport] = candidates;
		if (providerRows.length === 1 && candidates.length === 1 && onlyRow && onlyReport && !matched.has(onlyRow.id)) {
			matched.set(onlyRow.id, onlyReport);
		}
	}
	return matched;
}

function quotasOf(report: UsageReport | undefined): DashboardQuota[] {
	if (!report) return [];
	return report.limits.map((limit) => ({
		id: limit.id,
		label: limit.label,
		windowLabel: limit.window?.label,
		usedFraction: limit.amount.usedFraction,
		used: limit.amount.used,
		limit: limit.amount.limit,
		unit: limit.amount.unit,
		status: limit.status,
		resetsAt: limit.window?.resetsAt,
	}));
}

function accountOf(
	row: StoredAuthCredential,
	blocks: DashboardBlock[],
	report: UsageReport | undefined,
	now: number,
): DashboardAccount {
	const id = identityOf(row);
	const live = blocks.filter((block) => block.until > now);
	const blockedUntil = live.length > 0 ? Math.max(...live.map((block) => block.until)) : undefined;
	const disabled = row.disabledCause !== null;
	return {
		id: row.id,
		provider: row.provider,
		type: row.credential.type,
		label: labelOf(row),
		...id,
		state: disabled ? "disabled" : blockedUntil !== undefined ? "blocked" : "active",
		blockedUntil,
		blocks: live,
		disabledCause: row.disabledCause ?? undefined,
		expiresAt: row.credential.type === "oauth" ? row.credential.expires : undefined,
		plan: str(report?.metadata?.planType),
		quotas: quotasOf(report),
		usageFetchedAt: report?.fetchedAt,
	};
}

/** The whole dashboard view: every provider's active and (with a store) disabled accounts. */
export async function buildDashboardState(
	storage: AuthStorage,
	options: { store?: AuthCredentialStore; reports: UsageReport[]; now: number },
): Promise<DashboardState> {
	const snapshot = storage.exportSnapshot();
	const blocksById = new Map<number, DashboardBlock[]>();
	for (const entry of snapshot.credentials) {
		blocksById.set(
			entry.id,
			entry.blocks.map((block) => ({ scope: block.blockScope, until: block.blockedUntilMs })),
		);
	}
	const active = storage.listStoredCredentials();
	const disabled = options.store ? await options.store.rows.listDisabled() : [];
	const matched = matchReports(active, options.reports);
	const providers = new Map<string, DashboardAccount[]>();
	for (const row of [...active, ...disabled].sort((a, b) => a.id - b.id)) {
		const account = accountOf(
			row,
			row.disabledCause === null ? (blocksById.get(row.id) ?? []) : [],
			matched.get(row.id),
			options.now,
		);
		providers.set(row.provider, [...(providers.get(row.provider) ?? []), account]);
	}
	return {
		generation: snapshot.generation,
		providers: [...providers.entries()]
			.sort(([a], [b]) => a.localeCompare(b))
			.map(([id, accounts]) => ({ id, accounts })),
	};
}

/** Usage history with the account named by label and row id instead of its (possibly key-derived) account key. */
export function historyPoints(entries: UsageHistoryEntry[], rows: StoredAuthCredential[]): DashboardHistoryPoint[] {
	const rowByKey = new Map<string, StoredAuthCredential>();
	for (const row of rows) rowByKey.set(`${row.provider}\n${usageAccountKey(row.credential)}`, row);
	return entries.map((entry) => {
		const row = rowByKey.get(`${entry.provider}\n${entry.accountKey}`);
		return {
			recordedAt: entry.recordedAt,
			provider: entry.provider,
			credentialId: row?.id,
			account: entry.email ?? entry.accountId ?? (row ? labelOf(row) : "account"),
			limitId: entry.limitId,
			label: entry.label,
			windowLabel: entry.windowLabel,
			usedFraction: entry.usedFraction,
		};
	});
}
