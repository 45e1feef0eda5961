import type { ApiKeyCredential, AuthCredentialStore, OAuthCredential } from "@authpool/core";
import { CONFORMANCE_START_MS } from "./test-clock";

/** An OAuth login identified by its email (the identity key for anthropic and openai-codex). */
export function oauthLogin(email: string, generation = 1, extra: Record<string, unknown> = {}): OAuthCredential {
	return {
		type: "oauth",
		access: `access-${email}-${generation}`,
		refresh: `refresh-${email}-${generation}`,
		expires: CONFORMANCE_START_MS + 3_600_000 * generation,
		email,
		...extra,
	};
}

/** An OAuth login nothing identifies (no account fields, opaque tokens): its identity key is `null`. */
export function anonymousLogin(generation = 1): OAuthCredential {
	return {
		type: "oauth",
		access: `opaque-access-${generation}`,
		refresh: `opaque-refresh-${generation}`,
		expires: CONFORMANCE_START_MS + 3_600_000,
	};
}

export function apiKey(key: string): ApiKeyCredential {
	return { type: "api_key", key };
}

/**
 * Insert `count` anthropic OAuth rows and return their ids, so blocks and leases always reference
 * real rows (a store may enforce that with a foreign key).
 */
export async function seedCredentials(store: AuthCredentialStore, count: number): Promise<number[]> {
	const ids: number[] = [];
	for (let index = 0; index < count; index++) {
		ids.push((await store.rows.insert("anthropic", oauthLogin(`seed-${index}@example.com`))).id);
	}
	return ids;
}
