/** Shared by the benchmark sections: the section registry, a warm AuthStorage, baselines. */
import { type AuthCredentialStore, AuthStorage, type ProviderPlugin } from "@authpool/core";
import { type BenchResult, bench } from "./harness";

export const sections: { name: string; run: () => Promise<string> }[] = [];
export function section(name: string, run: () => Promise<string>): void {
	sections.push({ name, run });
}

const HOUR = 3_600_000;
const benchPlugin: ProviderPlugin = {
	id: "bench",
	oauth: {
		rotatesRefreshToken: true,
		refresh: async () => {
			throw new Error("the hot path must not refresh");
		},
	},
};

/** A warm AuthStorage over `store` with `rows` fresh OAuth accounts. */
export async function warmStorage(store: AuthCredentialStore, rows: number): Promise<AuthStorage> {
	const storage = new AuthStorage(store, { providers: [benchPlugin], env: {} });
	await storage.reload();
	await storage.set(
		"bench",
		Array.from({ length: rows }, (_, i) => ({
			type: "oauth" as const,
			access: `access-${i}`,
			refresh: `refresh-${i}`,
			expires: Date.now() + 24 * HOUR,
			email: `user${i}@example.com`,
		})),
	);
	await storage.getApiKey("bench", "session-1");
	await storage.getApiKey("bench");
	return storage;
}

/** Baselines every section reports against. */
export async function baselines(): Promise<{ mapGet: BenchResult; asyncMapGet: BenchResult }> {
	const map = new Map<string, string>([["k", "v"]]);
	const mapGet = await bench("Map.get (sync)", () => map.get("k"), { iterations: 200_000 });
	const asyncMapGet = await bench("await Map.get (async)", async () => map.get("k"), { iterations: 200_000 });
	return { mapGet, asyncMapGet };
}
