import { AuthpoolError, AuthStorage, createMemoryStore, type OAuthCredential } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { codexEligible, codexPlanType } from "./codex-eligibility";
import { createOpenAICodexPlugin } from "./openai-codex-plugin";

/** An unsigned token carrying a plan claim, built at run time (no token-shaped literals in the source). */
function accessWithPlan(plan: string, tag: string): string {
	const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
	return [part({ alg: "none" }), part({ "https://api.openai.com/auth": { chatgpt_plan_type: plan }, tag }), "sig"].join(
		".",
	);
}

const login = (email: string, plan?: string): OAuthCredential => ({
	type: "oauth",
	access: plan ? accessWithPlan(plan, email) : `opaque-${email}`,
	refresh: `test-refresh-${email}`,
	expires: Date.now() + 3_600_000,
	email,
});

describe("codex eligibility", () => {
	it("Spark models need a Pro plan; other models and unknown plans are never excluded", () => {
		expect(codexPlanType(login("a@example.com", "plus"))).toBe("plus");
		expect(codexPlanType({ ...login("b@example.com"), planType: "Pro" })).toBe("pro");
		expect(codexEligible(login("a@example.com", "plus"), { modelId: "gpt-5.3-codex-spark" })).toMatch(/Pro plan.*plus/);
		expect(codexEligible(login("a@example.com", "plus"), { modelId: "gpt-5.3-codex" })).toBe(true);
		expect(codexEligible(login("c@example.com", "pro"), { modelId: "gpt-5.3-codex-spark" })).toBe(true);
		expect(codexEligible(login("d@example.com"), { modelId: "gpt-5.3-codex-spark" })).toBe(true);
		expect(codexEligible({ type: "api_key", key: "test-key-1" }, { modelId: "gpt-5.3-codex-spark" })).toBe(true);
	});

	it("the pool skips Plus accounts for Spark and says why when only Plus accounts are stored", async () => {
		const storage = new AuthStorage(createMemoryStore(), {
			providers: [createOpenAICodexPlugin()],
			env: {},
			// Nothing here may reach a real endpoint.
			fetch: async () => {
				throw new Error("no network in tests");
			},
		});
		await storage.reload();
		await storage.set("openai-codex", [login("plus@example.com", "plus"), login("pro@example.com", "pro")]);
		for (let i = 0; i < 20; i += 1) {
			const key = await storage.getApiKey("openai-codex", `s-${i}`, { modelId: "gpt-5.3-codex-spark" });
			expect(key).toBe(accessWithPlan("pro", "pro@example.com"));
		}
		await storage.set("openai-codex", [login("plus@example.com", "plus")]);
		const error = await storage
			.getApiKey("openai-codex", "s", { modelId: "gpt-5.3-codex-spark" })
			.catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("NO_ELIGIBLE_CREDENTIAL");
		await storage.close();
	});
});
