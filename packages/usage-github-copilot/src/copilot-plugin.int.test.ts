import { type AuthCredential, AuthStorage, createMemoryStore } from "@authpool/core";
import { describePoolRotation } from "@authpool/fake-provider/plugin-kit";
import { expect } from "vitest";
import { COPILOT_TOKEN_LIFETIME_MS } from "./copilot-oauth";
import { createGithubCopilotPlugin } from "./copilot-plugin";

const PROVIDER = "github-copilot";
const now = Date.parse("2026-06-30T12:00:00Z");

function tokenOf(apiKey: string): string {
	const blob = JSON.parse(apiKey) as { token: string; refreshToken?: string };
	expect(blob.refreshToken).toBeUndefined();
	return blob.token;
}

// Copilot has no token endpoint call on refresh: an expired row is re-stamped locally.
describePoolRotation({
	provider: PROVIDER,
	title: "github-copilot end to end through AuthStorage",
	makePlugin: (fake) =>
		createGithubCopilotPlugin({
			endpoints: { githubApiBaseUrl: fake.baseUrl(PROVIDER), githubBaseUrl: fake.baseUrl(PROVIDER) },
		}),
	core: { AuthStorage, createMemoryStore },
	clock: { now: () => now },
	refreshCallsTokenEndpoint: false,
	model: "claude-sonnet-4",
	accountSpec: (name) => ({ accountId: name }),
	// Rows imported from elsewhere may carry a stale expiry; the plugin's refresh just re-stamps them.
	storedCredential: (account) => ({ ...(account.credential as AuthCredential), expires: now - 1 }),
	tokenOf,
	verify: ({ storage, first }) => {
		const refreshedRow = storage
			.listStoredCredentials(PROVIDER)
			.find((row) => row.credential.type === "oauth" && row.credential.access === first.token);
		expect(refreshedRow?.credential).toMatchObject({ expires: now + COPILOT_TOKEN_LIFETIME_MS });
	},
	envApiKey: "COPILOT_GITHUB_TOKEN",
});
