/**
 * Secrets never leave through logs, thrown errors, events or snapshots — even when a sloppy plugin puts
 * token bytes into its own error messages (SECURITY.md).
 */
import { describe, expect, it } from "vitest";
import { AuthStorage } from "./auth-storage";
import { fakeOAuthPlugin, manualClock, oauth } from "./auth-storage.test-utils";
import type { CredentialDisabledEvent } from "./pool/events";
import { createMemoryStore } from "./store/memory-store";
import type { Logger } from "./types";
import type { UsageProvider } from "./usage/types";

const SECRETS = [
	"sk-ant-oat-FAKEACCESS",
	"sk-ant-ort-FAKEREFRESH",
	"rt-plain-secret-refresh-cccccccc",
	"at-plain-secret-access-dddddddd",
	"sk-live-api-key-eeeeeeeeeeeeeeee",
];

function recordingLogger(): { logger: Logger; lines: string[] } {
	const lines: string[] = [];
	const record =
		(level: string) =>
		(message: string, fields?: Record<string, unknown>): void => {
			lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
		};
	return {
		lines,
		logger: { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") },
	};
}

function expectNoSecret(text: string, where: string): void {
	for (const secret of SECRETS) expect(text.includes(secret), `${where} leaked a secret`).toBe(false);
}

describe("secrets stay inside", () => {
	it("through refresh failures that quote tokens, usage failures, events, errors and snapshots", async () => {
		const clock = manualClock();
		const { logger, lines } = recordingLogger();
		const usage: UsageProvider = {
			fetchUsage: async (params) => {
				throw new Error(`usage endpoint said 500 for token ${params.credential.accessToken}`);
			},
		};
		const plugin = fakeOAuthPlugin("acme", clock, { usage });
		const store = createMemoryStore({ clock });
		const events: CredentialDisabledEvent[] = [];
		const storage = new AuthStorage(store, {
			providers: [plugin],
			clock,
			env: {},
			logger,
			onCredentialDisabled: (event) => {
				events.push(event);
			},
		});
		await storage.reload();
		await storage.set("acme", [
			oauth("a@x.io", clock.now(), { access: SECRETS[0]!, refresh: SECRETS[1]!, expires: clock.now() - 1 }),
			oauth("b@x.io", clock.now(), { access: SECRETS[3]!, refresh: SECRETS[2]!, expires: clock.now() - 1 }),
		]);
		await store.rows.insert("acme", { type: "api_key", key: SECRETS[4]! });

		const errors: unknown[] = [];
		// A transient failure whose message quotes the refresh token, then a definitive one doing the same.
		plugin.refreshImpl = async (credential) => {
			throw new Error(`503 upstream timeout while refreshing ${credential.refresh} (access ${credential.access})`);
		};
		await storage.getApiKey("acme", "s1").catch((error: unknown) => errors.push(error));
		clock.advance(6 * 60_000);
		plugin.refreshImpl = async (credential) => {
			throw new Error(`invalid_grant: refresh token ${credential.refresh} was revoked`);
		};
		await storage.getApiKey("acme", "s2").catch((error: unknown) => errors.push(error));
		await storage.refreshCredentialById(1).catch((error: unknown) => errors.push(error));
		await storage.fetchUsageReports().catch((error: unknown) => errors.push(error));
		await storage.set("acme", [oauth("c@x.io", clock.now(), { access: SECRETS[3]!, refresh: SECRETS[2]! })]);
		await storage.fetchUsageReports().catch((error: unknown) => errors.push(error));
		const health = await storage.checkCredentials();

		expect(lines.length).toBeGreaterThan(0);
		expectNoSecret(lines.join("\n"), "a log line");
		for (const error of errors) expectNoSecret(`${String(error)} ${JSON.stringify(error)}`, "an error");
		expect(events.length).toBeGreaterThan(0);
		expectNoSecret(JSON.stringify(events), "a credential_disabled event");
		expectNoSecret(JSON.stringify(health.map(({ report: _report, ...rest }) => rest)), "a health result");
		const snapshot = JSON.stringify(storage.exportSnapshot());
		// The snapshot carries access tokens and API keys by design (clients use them); never a refresh token.
		expect(snapshot.includes(SECRETS[1]!) || snapshot.includes(SECRETS[2]!)).toBe(false);
	});
});
