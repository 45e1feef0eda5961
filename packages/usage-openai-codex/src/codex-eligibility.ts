/**
 * Which Codex accounts can serve a model: Spark models (`-spark`) need a ChatGPT Pro plan. The plan comes
 * from the credential (`planType`, or the `chatgpt_plan_type` claim of the access token); an account whose
 * plan is not known is never excluded (the usage ranking still prefers Pro for Spark).
 */
import type { AuthCredential } from "@authpool/core";

function planFromAccessToken(access: string): string | undefined {
	const payload = access.split(".")[1];
	if (!payload) return undefined;
	try {
		const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
		const auth = claims["https://api.openai.com/auth"];
		const plan =
			typeof auth === "object" && auth !== null ? (auth as Record<string, unknown>).chatgpt_plan_type : undefined;
		return typeof plan === "string" && plan !== "" ? plan : undefined;
	} catch {
		return undefined;
	}
}

/** The account's ChatGPT plan (`plus`, `pro`, `team`, ...), when the credential says. */
export function codexPlanType(credential: AuthCredential): string | undefined {
	if (credential.type !== "oauth") return undefined;
	if (typeof credential.planType === "string" && credential.planType !== "") return credential.planType.toLowerCase();
	return planFromAccessToken(credential.access)?.toLowerCase();
}

/** The plugin's `eligible`: `true`, or why this account cannot serve the model. */
export function codexEligible(credential: AuthCredential, context: { modelId?: string }): boolean | string {
	if (!context.modelId?.toLowerCase().includes("-spark")) return true;
	const plan = codexPlanType(credential);
	if (plan === undefined || plan === "pro") return true;
	return `Codex Spark models need a ChatGPT Pro plan (this account: ${plan.replace(/[^a-z0-9_-]/g, "").slice(0, 32)})`;
}
