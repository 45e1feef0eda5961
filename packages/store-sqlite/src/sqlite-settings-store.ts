/**
 * Per-provider settings (account priority): one JSON row per provider. A write bumps the change
 * revision (trigger), so every peer re-reads the settings with its next change check.
 */
import {
	AuthpoolError,
	checkStoreInput,
	storeInputSchemas as input,
	type ProviderSettings,
	type ProviderSettingsStore,
} from "@authpool/core";
import type { SqliteContext } from "./sqlite-context";

const SQL = {
	get: "SELECT data FROM auth_provider_settings WHERE provider = ?",
	set:
		"INSERT INTO auth_provider_settings (provider, data, updated_at) VALUES (?, ?, ?) " +
		"ON CONFLICT (provider) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
	list: "SELECT provider, data FROM auth_provider_settings ORDER BY provider",
} as const;

function parse(provider: string, data: string): ProviderSettings {
	try {
		const value = JSON.parse(data) as ProviderSettings;
		return checkStoreInput(input.providerSettings, value, "stored provider settings");
	} catch (error) {
		throw new AuthpoolError("CORRUPT_DATA", `Stored settings of provider ${provider} cannot be read`, { cause: error });
	}
}

export function createSqliteSettingsStore(ctx: SqliteContext): ProviderSettingsStore {
	return {
		async get(provider) {
			ctx.assertOpen("settings.get");
			checkStoreInput(input.provider, provider, "provider");
			const row = await ctx.read(
				"settings.get",
				() => ctx.statement(SQL.get).get(provider) as { data: string } | undefined,
			);
			return row ? parse(provider, row.data) : null;
		},
		async set(provider, settings) {
			ctx.assertOpen("settings.set");
			checkStoreInput(input.provider, provider, "provider");
			const valid = checkStoreInput(input.providerSettings, settings, "provider settings");
			const data = JSON.stringify({ accountPriority: valid.accountPriority });
			await ctx.write("settings.set", () => ctx.statement(SQL.set).run(provider, data, ctx.now()));
		},
		async list() {
			ctx.assertOpen("settings.list");
			const rows = await ctx.read(
				"settings.list",
				() => ctx.statement(SQL.list).all() as Array<{ provider: string; data: string }>,
			);
			const out: Record<string, ProviderSettings> = Object.create(null);
			for (const row of rows) out[row.provider] = parse(row.provider, row.data);
			return out;
		},
	};
}
