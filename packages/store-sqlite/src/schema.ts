/**
 * Table shapes as kysely sees them. All times are epoch milliseconds.
 */
import type { Generated } from "kysely";

export interface CredentialsTable {
	id: Generated<number>;
	provider: string;
	credential_type: string;
	/** The credential as JSON (unknown provider fields round-trip). */
	data: string;
	identity_key: string | null;
	version: number;
	/** `NULL` while active; the cause once soft-disabled (a tombstone). */
	disabled_cause: string | null;
	created_at: number;
	updated_at: number;
	disabled_at: number | null;
}

export interface CacheTable {
	key: string;
	value: string;
	expires_at: number;
}

export interface BlocksTable {
	credential_id: number;
	provider_key: string;
	scope: string;
	blocked_until: number;
	updated_at: number;
}

export interface LeasesTable {
	credential_id: number;
	owner: string;
	expires_at: number;
	updated_at: number;
	ttl_ms: number;
	beat: number;
}

export interface ChangeRevisionTable {
	id: number;
	revision: number;
}

export interface UsageHistoryTable {
	id: Generated<number>;
	hour_bucket: number;
	recorded_at: number;
	provider: string;
	account_key: string;
	limit_id: string;
	email: string | null;
	account_id: string | null;
	label: string;
	window_label: string | null;
	used_fraction: number | null;
	status: string | null;
	resets_at: number | null;
}

export interface UsageCostsTable {
	id: Generated<number>;
	recorded_at: number;
	provider: string;
	account_key: string;
	cost_usd: number;
}

/** Client-observed usage: one row per install + app + provider + model + hour, counts added. */
export interface ClientUsageTable {
	install_id: string;
	/** `""` when the client named no app. */
	app: string;
	provider: string;
	model: string;
	hour_bucket: number;
	hostname: string | null;
	first_at: number;
	last_at: number;
	requests: number;
	input_tokens: number;
	output_tokens: number;
	cache_read_tokens: number;
	cache_write_tokens: number;
	cost_usd: number;
}

/** The whole schema, for `Kysely<SqliteSchema>`. */
export interface ProviderSettingsTable {
	provider: string;
	/** JSON `ProviderSettings`. */
	data: string;
	updated_at: number;
}

export interface SqliteSchema {
	auth_provider_settings: ProviderSettingsTable;
	auth_credentials: CredentialsTable;
	auth_cache: CacheTable;
	auth_credential_blocks: BlocksTable;
	auth_refresh_leases: LeasesTable;
	auth_change_revision: ChangeRevisionTable;
	auth_usage_history: UsageHistoryTable;
	auth_usage_costs: UsageCostsTable;
	auth_client_usage: ClientUsageTable;
}

/** Raw row of `auth_credentials` as the SQLite driver returns it. */
export type CredentialRecord = Omit<CredentialsTable, "id"> & { id: number };
