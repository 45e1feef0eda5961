import { jwtIdentity } from "@authpool/core";

/** User agent the Codex usage endpoints are called with. */
export const CODEX_USAGE_USER_AGENT = "OpenCode-Status-Plugin/1.0";

/** Account id (explicit, else the access token's `chatgpt_account_id` claim) and lower-cased email. */
export function codexIdentity(
	accessToken: string,
	accountId?: string,
	email?: string,
): { accountId?: string; email?: string } {
	const claims = jwtIdentity(accessToken);
	const id = accountId?.trim() || claims.accountId;
	const mail = email?.trim().toLowerCase() || claims.email;
	return { ...(id ? { accountId: id } : {}), ...(mail ? { email: mail } : {}) };
}

/** Headers of every Codex backend call. */
export function codexHeaders(accessToken: string, accountId: string | undefined): Record<string, string> {
	return {
		authorization: `Bearer ${accessToken}`,
		"user-agent": CODEX_USAGE_USER_AGENT,
		accept: "application/json",
		...(accountId ? { "chatgpt-account-id": accountId } : {}),
	};
}
