/**
 * The end-to-end test every plugin should have: the plugin inside a real `AuthStorage`, talking to
 * `@authpool/fake-provider` (a provider id the fake does not know gets a generic OAuth token endpoint
 * at `/oauth/token` and the shared `/inference` endpoint). `describePoolRotation` from
 * `@authpool/fake-provider/plugin-kit` runs it: two accounts, quota spent to 429, the session moves on.
 * Plugin-specific checks go in its hooks (`afterFirstResponse`, `afterMark`, `verify`) or in tests of
 * their own below it.
 */
import { AuthStorage, createMemoryStore } from "@authpool/core";
import { describePoolRotation } from "@authpool/fake-provider/plugin-kit";
import { createAcmePlugin } from "./template-plugin";

const PROVIDER = "acme";
const now = Date.parse("2026-06-30T12:00:00Z");

// Both rows start expired: each must be refreshed through the fake before it is handed out.
describePoolRotation({
	provider: PROVIDER,
	title: "acme (template) end to end through AuthStorage",
	makePlugin: (fake) => {
		const base = fake.baseUrl(PROVIDER);
		return createAcmePlugin({ endpoints: { tokenUrl: `${base}/oauth/token`, apiBaseUrl: base } });
	},
	core: { AuthStorage, createMemoryStore },
	clock: { now: () => now },
	expired: "both",
	accountSpec: (name) => ({ email: `${name}@example.com` }),
});
