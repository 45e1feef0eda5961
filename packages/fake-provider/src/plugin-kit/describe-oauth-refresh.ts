/**
 * The OAuth refresh cases every refreshing plugin shares, run against the fake provider's token
 * endpoint: success (with and without rotation), rotation chains, revoked grants, 5xx, dropped
 * connections and a hanging endpoint the caller aborts.
 */
import { describe, expect, it } from "vitest";
import type { FakeRequest } from "../types";
import { kitClock, useFakeProvider } from "./fake-lifecycle";
import type {
	FakeAccount,
	FakeProvider,
	KitClock,
	KitFakeOptions,
	KitOAuthCredential,
	KitPluginContext,
	KitRefreshError,
	KitRefreshErrorClass,
	KitRefreshPlugin,
	KitRefreshResult,
} from "./types";

/** What a successful refresh hands to the plugin's own assertions. */
export interface OAuthRefreshSuccess {
	fake: FakeProvider;
	account: FakeAccount;
	/** The credential that was refreshed. */
	before: KitOAuthCredential;
	result: KitRefreshResult;
	/** The token request the fake recorded. */
	request: FakeRequest;
}

/** Options of {@link describeOAuthRefresh}. */
export interface OAuthRefreshKitOptions<P extends KitRefreshPlugin> extends KitFakeOptions {
	/** Fake provider id (`fake.baseUrl(provider)`). */
	provider: string;
	/** The plugin, pointed at the fake (`fake.baseUrl(provider)`). */
	makePlugin: (fake: FakeProvider) => P;
	/** Core's error class and definitive-failure test (the kit cannot import core). */
	core: { OAuthRefreshError: KitRefreshErrorClass; isDefinitiveRefreshFailure?: (error: unknown) => boolean };
	/** How much earlier than the token's real expiry the plugin says it expires. */
	expirySkewMs: number;
	/** @default a clock frozen at {@link KIT_NOW} */
	clock?: KitClock;
	/** Title of the `describe` block. @default `${provider} oauth.refresh (plugin kit)` */
	title?: string;
	/** Spec for the account of the success case (identity fields the plugin maps). */
	accountSpec?: Parameters<FakeProvider["addAccount"]>[1];
	/** The credential to refresh, from the fake account. @default `account.credential` */
	credentialOf?: (account: FakeAccount) => KitOAuthCredential;
	/** Status of the injected transient token-endpoint failure. @default 503 */
	transientStatus?: number;
	/** Plugin-specific assertions on a successful rotating refresh (request body, identity...). */
	verifySuccess?: (success: OAuthRefreshSuccess) => void | Promise<void>;
}

function context(clock: KitClock, signal: AbortSignal = new AbortController().signal): KitPluginContext {
	const silent = () => {};
	return {
		fetch: globalThis.fetch,
		clock,
		logger: { debug: silent, info: silent, warn: silent, error: silent },
		env: {},
		signal,
	};
}

/**
 * Registers a `describe` block with the shared OAuth refresh cases for `options.provider`. Each case
 * starts from a fresh account on the kit's own fake provider.
 */
export function describeOAuthRefresh<P extends KitRefreshPlugin>(options: OAuthRefreshKitOptions<P>): void {
	const { provider, core, expirySkewMs } = options;
	const clock = options.clock ?? kitClock;
	const credentialOf = options.credentialOf ?? ((account: FakeAccount) => account.credential as KitOAuthCredential);

	describe(options.title ?? `${provider} oauth.refresh (plugin kit)`, () => {
		const fake = useFakeProvider(clock, options.fakeOptions);

		function refresh(credential: KitOAuthCredential, signal?: AbortSignal): Promise<KitRefreshResult> {
			const oauth = options.makePlugin(fake()).oauth;
			if (!oauth) throw new Error(`${provider}: the plugin has no oauth.refresh`);
			return oauth.refresh(credential, context(clock, signal));
		}

		async function refreshError(credential: KitOAuthCredential, signal?: AbortSignal): Promise<KitRefreshError> {
			const outcome = await refresh(credential, signal).then(
				() => "resolved" as const,
				(error: unknown) => error,
			);
			expect(outcome, "refresh should have failed").not.toBe("resolved");
			expect(core.OAuthRefreshError.isInstance(outcome), "an OAuthRefreshError").toBe(true);
			return outcome as KitRefreshError;
		}

		it("gets a new access token and the rotated refresh token, with the plugin's expiry skew", async () => {
			const account = fake().addAccount(provider, { ...options.accountSpec, rotateRefreshTokens: true });
			const before = credentialOf(account);
			const result = await refresh(before);
			expect(fake().refreshCount(account.id)).toBe(1);
			expect(result.access).toBe(account.accessToken);
			expect(result.access).not.toBe(before.access);
			expect(result.refresh).toBe(account.refreshToken);
			expect(result.refresh).not.toBe(before.refresh);
			expect(result.expires).toBe(account.expiresAt - expirySkewMs);
			const request = fake().requests.find((entry) => entry.endpoint === "token");
			expect(request).toBeDefined();
			await options.verifySuccess?.({ fake: fake(), account, before, result, request: request as FakeRequest });
		});

		it("keeps the old refresh token when the server does not rotate", async () => {
			const account = fake().addAccount(provider, { rotateRefreshTokens: false });
			const before = credentialOf(account);
			const result = await refresh(before);
			expect(result.access).toBe(account.accessToken);
			expect(result.access).not.toBe(before.access);
			expect(result.refresh ?? before.refresh).toBe(before.refresh);
		});

		it("chains rotations, and reusing a rotated-away refresh token is definitive without token bytes", async () => {
			const account = fake().addAccount(provider, { rotateRefreshTokens: true });
			const first = credentialOf(account);
			const second = await refresh(first);
			const third = await refresh({ ...first, access: second.access, refresh: second.refresh ?? first.refresh });
			expect(third.refresh).toBe(account.refreshToken);
			expect(fake().refreshCount(account.id)).toBe(2);
			const reused = await refreshError(first);
			expect(reused.definitive).toBe(true);
			expect(reused.errorCode).toBe("invalid_grant");
			expect(reused.message).toContain("invalid_grant");
			expect(String(reused)).not.toContain(first.refresh);
			expect(reused.message).not.toContain(first.refresh);
		});

		it("reports a revoked grant as a definitive failure without token bytes in the message", async () => {
			const account = fake().addAccount(provider);
			const before = credentialOf(account);
			fake().revoke(account.id);
			const error = await refreshError(before);
			expect(error.definitive).toBe(true);
			expect(error.errorCode).toBe("invalid_grant");
			expect(error.status).toBe(400);
			expect(error.message).not.toContain(before.refresh);
			expect(error.message).not.toContain(before.access);
			if (core.isDefinitiveRefreshFailure) expect(core.isDefinitiveRefreshFailure(error)).toBe(true);
		});

		it("treats a 5xx as transient and rotates nothing, so the next attempt succeeds", async () => {
			const status = options.transientStatus ?? 503;
			const account = fake().addAccount(provider);
			const before = credentialOf(account);
			fake().failNext(provider, "token", { status, body: { error: "temporarily_unavailable" } });
			const error = await refreshError(before);
			expect(error.definitive).toBe(false);
			expect(error.status).toBe(status);
			if (core.isDefinitiveRefreshFailure) expect(core.isDefinitiveRefreshFailure(error)).toBe(false);
			expect(fake().refreshCount(account.id)).toBe(0);
			expect(account.refreshToken).toBe(before.refresh);
			const retried = await refresh(before);
			expect(retried.access).toBe(account.accessToken);
			expect(fake().refreshCount(account.id)).toBe(1);
		});

		it("treats a dropped connection as transient", async () => {
			const account = fake().addAccount(provider);
			fake().failNext(provider, "token", { destroy: true });
			const error = await refreshError(credentialOf(account));
			expect(error.definitive).toBe(false);
			expect(fake().refreshCount(account.id)).toBe(0);
		});

		it("stops promptly when the token endpoint hangs and the signal aborts", async () => {
			const account = fake().addAccount(provider);
			fake().failNext(provider, "token", { hang: true });
			const controller = new AbortController();
			const pending = refresh(credentialOf(account), controller.signal).then(
				() => "resolved" as const,
				(error: unknown) => error,
			);
			// Abort only once the request reached the server, so it interrupts an in-flight call.
			while (fake().count(provider, "token") === 0) await new Promise((resolve) => setTimeout(resolve, 5));
			controller.abort();
			const outcome = await pending;
			expect(outcome).not.toBe("resolved");
			expect(outcome).toBeInstanceOf(Error);
			expect(core.OAuthRefreshError.isInstance(outcome) && (outcome as KitRefreshError).definitive).toBe(false);
			expect(fake().refreshCount(account.id)).toBe(0);
		});
	});
}
