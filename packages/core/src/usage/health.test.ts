import { describe, expect, it } from "vitest";
import { OAuthRefreshError } from "../errors";
import { createProviderRegistry } from "../plugin";
import { createMemoryStore } from "../store/memory-store";
import { type AuthCredential, REMOTE_REFRESH_SENTINEL, type StoredAuthCredential, silentLogger } from "../types";
import { type CheckCredentialsDeps, type CompletionProbe, checkCredentials } from "./health";
import { UsageService } from "./service";
import type { UsageFetchParams, UsageProvider, UsageReport } from "./types";

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;

function report(provider: string, metadata?: Record<string, unknown>): UsageReport {
	return {
		provider,
		fetchedAt: NOW,
		limits: [{ id: "primary", label: "5h", scope: { provider }, amount: { unit: "percent", usedFraction: 0.2 } }],
		...(metadata ? { metadata } : {}),
		raw: { upstream: true },
	};
}

async function setup() {
	const clock = { t: NOW, now: () => clock.t };
	const store = createMemoryStore({ clock });
	const seen: UsageFetchParams[] = [];
	let failing = false;
	const verifying: UsageProvider = {
		async fetchUsage(params) {
			seen.push(params);
			const secret = params.credential.accessToken ?? params.credential.apiKey ?? "";
			if (failing || secret.startsWith("bad")) return null;
			if (secret.startsWith("boom")) throw new Error(`upstream rejected ${secret}`);
			return report(params.provider, { email: "probe@example.com", accountId: "acct-9" });
		},
		supports: (params) => params.provider !== "oauth-only" || params.credential.type === "oauth",
	};
	const registry = createProviderRegistry([
		{ id: "verify", usage: verifying },
		{ id: "oauth-only", usage: verifying },
		{ id: "no-usage" },
		{ id: "unverified", usage: { ...verifying, validatesCredentials: false } },
	]);
	const usage = new UsageService({
		store,
		registry,
		fetch: async () => {
			throw new Error("no network");
		},
		clock,
		logger: silentLogger,
		env: {},
		random: () => 0.5,
	});
	const refreshed: number[] = [];
	const deps: CheckCredentialsDeps = {
		usage,
		registry,
		clock,
		async ensureFresh(row) {
			refreshed.push(row.id);
			const credential = row.credential;
			if (credential.type !== "oauth") return row;
			if (credential.refresh.startsWith("dead")) {
				throw new OAuthRefreshError(`refresh rejected for token ${credential.refresh}`, {
					provider: row.provider,
					definitive: true,
					credentialId: row.id,
				});
			}
			const next = await store.rows.update(row.id, { ...credential, access: "good-fresh", expires: NOW + HOUR });
			if (!next) throw new Error("row vanished");
			return next;
		},
	};
	const add = (provider: string, credential: AuthCredential) => store.rows.insert(provider, credential);
	return {
		clock,
		store,
		usage,
		deps,
		seen,
		refreshed,
		add,
		fail(value: boolean) {
			failing = value;
		},
	};
}

function oauth(access: string, extra: Partial<Extract<AuthCredential, { type: "oauth" }>> = {}): AuthCredential {
	return { type: "oauth", access, refresh: `refresh-${access}`, expires: NOW + HOUR, ...extra };
}

describe("checkCredentials", () => {
	it("reports true, false and null per row in stable id order", async () => {
		const t = await setup();
		const good = await t.add("verify", oauth("good-1", { email: "Stored@Example.com" }));
		const bad = await t.add("verify", { type: "api_key", key: "bad-key-123" });
		const none = await t.add("no-usage", { type: "api_key", key: "sk-none-0000" });
		const unverified = await t.add("unverified", { type: "api_key", key: "good-key-456" });
		const unsupported = await t.add("oauth-only", { type: "api_key", key: "good-key-789" });
		const progress: [number, number, number][] = [];
		const rows = [unsupported, none, bad, good, unverified];
		const results = await checkCredentials(rows, t.deps, {
			onProgress: (done, total, result) => {
				progress.push([done, total, result.id]);
				throw new Error("listener bug");
			},
		});

		expect(results.map((r) => r.id)).toEqual([good.id, bad.id, none.id, unverified.id, unsupported.id]);
		expect(results.map((r) => r.ok)).toEqual([true, false, null, null, null]);
		const [okResult, badResult, noneResult, unverifiedResult, unsupportedResult] = results;
		expect(okResult).toMatchObject({
			provider: "verify",
			type: "oauth",
			email: "probe@example.com",
			accountId: "acct-9",
		});
		expect(okResult?.reason).toBeUndefined();
		expect(okResult?.report?.limits[0]?.id).toBe("primary");
		expect(okResult?.report && "raw" in okResult.report).toBe(false);
		expect(badResult).toMatchObject({ type: "api_key", ok: false, reason: "usage probe failed" });
		expect(noneResult?.reason).toMatch(/no usage probe/);
		expect(unverifiedResult?.reason).toMatch(/does not validate/);
		expect(unsupportedResult?.reason).toMatch(/does not support api_key/);
		expect(progress).toEqual(results.map((r, i) => [i + 1, 5, r.id]));
	});

	it("probes for real rather than passing on a cached or last good report", async () => {
		const t = await setup();
		const row = await t.add("verify", oauth("good-2"));
		expect(await t.usage.getReport(row)).not.toBeNull();
		t.fail(true);
		const [result] = await checkCredentials([row], t.deps);
		expect(result).toMatchObject({ ok: false, reason: "usage probe failed" });
		expect(t.seen).toHaveLength(2);
	});

	it("refreshes an expired OAuth row before probing, and only an expired one", async () => {
		const t = await setup();
		const expired = await t.add("verify", oauth("bad-expired", { expires: NOW - 1 }));
		const fresh = await t.add("verify", oauth("good-3"));
		const results = await checkCredentials([expired, fresh], t.deps);
		expect(t.refreshed).toEqual([expired.id]);
		expect(results.map((r) => r.ok)).toEqual([true, true]);
		expect(t.seen[0]?.credential.accessToken).toBe("good-fresh");
	});

	it("reports a failed refresh as false without a secret and skips both probes", async () => {
		const t = await setup();
		const row = await t.add("verify", oauth("good-4", { refresh: "dead-refresh-token-xyz", expires: NOW - 1 }));
		let probed = 0;
		const [result] = await checkCredentials([row], t.deps, {
			completionProbe: async () => {
				probed += 1;
				return { ok: true };
			},
		});
		expect(result?.ok).toBe(false);
		expect(result?.reason).toMatch(/^oauth refresh failed/);
		expect(result?.reason).not.toContain("dead-refresh-token-xyz");
		expect(result?.completion).toBeUndefined();
		expect(probed).toBe(0);
		expect(t.seen).toHaveLength(0);
	});

	it("marks rows whose refresh token lives on a broker", async () => {
		const t = await setup();
		const row = await t.add("verify", oauth("good-5", { refresh: REMOTE_REFRESH_SENTINEL }));
		const [result] = await checkCredentials([row], t.deps);
		expect(result?.remoteRefresh).toBe(true);
	});

	it("runs the completion probe with the row's bearer token and reports its outcome", async () => {
		const t = await setup();
		const oauthRow = await t.add(
			"verify",
			oauth("bad-6", { expires: NOW - 1, accountId: "acc-6", projectId: "proj-6" }),
		);
		const keyRow = await t.add("no-usage", { type: "api_key", key: "sk-probe-key-000" });
		const inputs: Parameters<CompletionProbe>[0][] = [];
		const probe: CompletionProbe = async (input) => {
			inputs.push(input);
			t.clock.t += 250;
			if (input.credential.type === "api_key") return { ok: false, reason: `401 for ${input.credential.apiKey}` };
			return { ok: true, modelId: "tiny-model" };
		};
		const [oauthResult, keyResult] = await checkCredentials([oauthRow, keyRow], t.deps, { completionProbe: probe });
		expect(inputs[0]?.credential).toEqual({
			type: "oauth",
			accessToken: "good-fresh",
			accountId: "acc-6",
			projectId: "proj-6",
		});
		expect(inputs[0]?.credentialId).toBe(oauthRow.id);
		expect(inputs[0]?.signal).toBeInstanceOf(AbortSignal);
		expect(oauthResult?.completion).toEqual({ ok: true, modelId: "tiny-model", latencyMs: 250 });
		// The usage verdict stays separate from the completion verdict.
		expect(keyResult?.ok).toBeNull();
		expect(keyResult?.completion?.ok).toBe(false);
		expect(keyResult?.completion?.reason).toContain("401");
		expect(keyResult?.completion?.reason).not.toContain("sk-probe-key-000");
	});

	it("turns a throwing or hanging completion probe into ok:false", async () => {
		const t = await setup();
		const a = await t.add("verify", oauth("good-7"));
		const b = await t.add("verify", oauth("good-8"));
		const probe: CompletionProbe = (input) => {
			if (input.credentialId === a.id) return Promise.reject(new Error("socket hang up"));
			return new Promise(() => {});
		};
		const [first, second] = await checkCredentials([a, b], t.deps, {
			completionProbe: probe,
			completionTimeoutMs: 20,
		});
		expect(first?.completion).toMatchObject({ ok: false, reason: "completion probe failed: socket hang up" });
		expect(second?.completion).toMatchObject({ ok: false, reason: "completion probe timed out" });
		expect(first?.ok).toBe(true);
	});

	it("filters by provider and rejects when the caller aborts", async () => {
		const t = await setup();
		const rows: StoredAuthCredential[] = [
			await t.add("verify", oauth("good-9")),
			await t.add("no-usage", { type: "api_key", key: "sk-x-00000000" }),
		];
		const only = await checkCredentials(rows, t.deps, { provider: "no-usage" });
		expect(only.map((r) => r.provider)).toEqual(["no-usage"]);
		const controller = new AbortController();
		controller.abort();
		await expect(checkCredentials(rows, t.deps, { signal: controller.signal })).rejects.toMatchObject({
			code: "ABORTED",
		});
	});
});
