/**
 * Test-only helpers (not exported from the package): contexts with an injected clock; the scripted
 * fetch comes from @authpool/fake-provider.
 */
import { type Clock, type FetchLike, type Logger, silentLogger, type UsageFetchContext } from "@authpool/core";

export { createManualClock as fixedClock, jsonResponse as json, scriptedFetch } from "@authpool/fake-provider";

/** A usage context whose retry sleeps are instant and recorded. */
export function usageContext(
	fetch: FetchLike,
	clock: Clock,
	logger: Logger = silentLogger,
): UsageFetchContext & { waits: number[] } {
	const waits: number[] = [];
	return {
		fetch,
		clock,
		logger,
		env: {},
		waits,
		retryWait: async (delayMs, signal) => {
			waits.push(delayMs);
			if (signal?.aborted) throw signal.reason;
		},
	};
}

/** An unsigned JWT carrying OpenAI's account and profile claims. */
export function codexJwt(claims: { accountId?: string; email?: string; exp?: number } = {}): string {
	const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
	return [
		encode({ alg: "none", typ: "JWT" }),
		encode({
			...(claims.accountId ? { "https://api.openai.com/auth": { chatgpt_account_id: claims.accountId } } : {}),
			...(claims.email ? { "https://api.openai.com/profile": { email: claims.email } } : {}),
			...(claims.exp ? { exp: claims.exp } : {}),
		}),
		"sig",
	].join(".");
}
