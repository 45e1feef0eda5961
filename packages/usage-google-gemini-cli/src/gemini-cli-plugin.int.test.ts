import { AuthStorage, createMemoryStore } from "@authpool/core";
import { describePoolRotation } from "@authpool/fake-provider/plugin-kit";
import { expect } from "vitest";
import { createGeminiCliPlugin } from "./gemini-cli-plugin";

const PROVIDER = "google-gemini-cli";
const now = Date.parse("2026-06-30T12:00:00Z");

function tokenOf(apiKey: string): string {
	const blob = JSON.parse(apiKey) as { token: string; refreshToken?: string };
	expect(blob.refreshToken).toBeUndefined();
	return blob.token;
}

// Both rows start expired so whichever row a session lands on must be refreshed first.
describePoolRotation({
	provider: PROVIDER,
	title: "google-gemini-cli end to end through AuthStorage",
	makePlugin: (fake) =>
		createGeminiCliPlugin({
			endpoints: { tokenUrl: `${fake.baseUrl(PROVIDER)}/token`, codeAssistBaseUrl: fake.baseUrl(PROVIDER) },
		}),
	core: { AuthStorage, createMemoryStore },
	clock: { now: () => now },
	expired: "both",
	model: "gemini-2.5-pro",
	accountSpec: (name) => ({ email: `${name}@example.com` }),
	tokenOf,
});
