/**
 * The end-to-end pool case every plugin shares: the plugin inside a real `AuthStorage` on a memory
 * store, two fake accounts, a session that spends its account's inference quota until 429, is marked
 * usage-limited and moves to the sibling. Optionally, the env-var fallback when nothing is stored.
 */
import { describe, expect, it } from "vitest";
import { kitClock, useFakeProvider } from "./fake-lifecycle";
import type { FakeAccount, FakeProvider, KitClock, KitCore, KitFakeOptions, KitPoolStorage } from "./types";

/** One account as the session saw it: the token handed out and the fake account it belongs to. */
export interface PoolTurn {
	/** What `getApiKey` returned (an API key, a token, or a JSON blob). */
	apiKey: string;
	/** The bearer token inside it (see {@link PoolRotationKitOptions.tokenOf}). */
	token: string;
	account: FakeAccount;
}

/** What the pool kit hands to a plugin's own assertions at each stage. */
export interface PoolRotationContext<S extends KitPoolStorage> {
	fake: FakeProvider;
	storage: S;
	clock: KitClock;
	session: string;
	alice: FakeAccount;
	bob: FakeAccount;
	first: PoolTurn;
	/** The first account's sibling. */
	sibling: FakeAccount;
	/** One inference call against the fake with `token`. */
	infer(token: string): Promise<Response>;
}

/** Options of {@link describePoolRotation}. */
export interface PoolRotationKitOptions<S extends KitPoolStorage, P, M> extends KitFakeOptions {
	/** Provider id (plugin id and fake provider id). */
	provider: string;
	/** The plugin, pointed at the fake. */
	makePlugin: (fake: FakeProvider) => P;
	/** Core's `AuthStorage` and `createMemoryStore`. */
	core: KitCore<S, P, M>;
	/**
	 * Which rows start with an expired access token. An expired row must be refreshed through the
	 * fake's token endpoint before it is handed out, exactly once. @default "none"
	 */
	expired?: "both" | "one" | "none";
	/** Whether refreshing a row calls the token endpoint (false: copilot re-stamps locally). @default true */
	refreshCallsTokenEndpoint?: boolean;
	/** Inference calls each account may make per window. @default 1 */
	quota?: number;
	/** Extra account spec per account (emails...). */
	accountSpec?: (name: "alice" | "bob") => Parameters<FakeProvider["addAccount"]>[1];
	/** The credential to store for an account. @default `account.credential` */
	storedCredential?: (account: FakeAccount) => unknown;
	/** The bearer token inside what `getApiKey` returns (and the plugin's checks of it). @default identity */
	tokenOf?: (apiKey: string) => string;
	/** Model of the inference calls; with `perModel`, also the `modelId` of selection and the limit. */
	model?: string;
	perModel?: boolean;
	/** Passed to the storage as `random`. */
	random?: () => number;
	/** @default a clock frozen at {@link KIT_NOW} */
	clock?: KitClock;
	/** Title of the `describe` block. @default `${provider} pool rotation through AuthStorage (plugin kit)` */
	title?: string;
	/** After the first successful inference call (it gets that response). */
	afterFirstResponse?: (context: PoolRotationContext<S>, response: Response) => void | Promise<void>;
	/** Right after `markUsageLimitReached` switched the session, before the next `getApiKey`. */
	afterMark?: (context: PoolRotationContext<S>) => void | Promise<void>;
	/** At the end, once the session sits on the sibling. */
	verify?: (context: PoolRotationContext<S> & { second: PoolTurn }) => void | Promise<void>;
	/** Adds a case: with nothing stored, `getApiKey` answers this env var's value. */
	envApiKey?: string;
}

/**
 * Registers a `describe` block with the shared pool cases for `options.provider`, each on a fresh
 * `AuthStorage` over a memory store and the kit's own fake provider.
 */
export function describePoolRotation<S extends KitPoolStorage, P, M>(options: PoolRotationKitOptions<S, P, M>): void {
	const { provider, core } = options;
	const clock = options.clock ?? kitClock;
	const expired = options.expired ?? "none";
	const quota = options.quota ?? 1;
	const tokenOf = options.tokenOf ?? ((apiKey: string) => apiKey);
	const selection = options.perModel && options.model ? { modelId: options.model } : undefined;

	describe(options.title ?? `${provider} pool rotation through AuthStorage (plugin kit)`, () => {
		const fake = useFakeProvider(clock, options.fakeOptions);
		let open: S[] = [];

		async function newStorage(env: Record<string, string | undefined> = {}): Promise<S> {
			const storage = new core.AuthStorage(core.createMemoryStore({ clock }), {
				providers: [options.makePlugin(fake())],
				clock,
				env,
				fetch: globalThis.fetch,
				...(options.random ? { random: options.random } : {}),
			});
			open.push(storage);
			await storage.reload();
			return storage;
		}

		async function closeAll(): Promise<void> {
			const closing = open;
			open = [];
			await Promise.all(closing.map((storage) => storage.close()));
		}

		function infer(token: string): Promise<Response> {
			return fetch(`${fake().baseUrl(provider)}/inference`, {
				method: "POST",
				headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
				body: JSON.stringify(options.model ? { model: options.model } : {}),
			});
		}

		async function turn(storage: S, session: string): Promise<PoolTurn> {
			const apiKey = await storage.getApiKey(provider, session, selection);
			expect(apiKey).toBeDefined();
			const token = tokenOf(apiKey as string);
			const account = fake().account(token);
			expect(account, "the handed-out token belongs to a fake account").toBeDefined();
			// Whatever the row stored, the token handed out is the account's live one (refreshed if it was expired).
			expect(token).toBe(account?.accessToken);
			return { apiKey: apiKey as string, token, account: account as FakeAccount };
		}

		it("hands out a live token, spends its quota to 429, and moves the session to the sibling", async () => {
			try {
				const now = clock.now();
				const spec = (name: "alice" | "bob", startsExpired: boolean) => ({
					...options.accountSpec?.(name),
					quota,
					...(startsExpired ? { expiresAt: now - 1 } : {}),
				});
				const alice = fake().addAccount(provider, spec("alice", expired !== "none"));
				const bob = fake().addAccount(provider, spec("bob", expired === "both"));
				const startsExpired = new Set(
					[alice, bob].filter((account) => account.expiresAt < now).map((account) => account.id),
				);
				expect(startsExpired.size).toBe(expired === "both" ? 2 : expired === "one" ? 1 : 0);
				const staleTokens = new Set([alice.accessToken, bob.accessToken]);
				const stored = options.storedCredential ?? ((account: FakeAccount) => account.credential);
				const storage = await newStorage();
				await storage.set(provider, [stored(alice), stored(bob)] as never);

				const session = "s1";
				const first = await turn(storage, session);
				expect([alice.id, bob.id]).toContain(first.account.id);
				const sibling = first.account.id === alice.id ? bob : alice;
				const context: PoolRotationContext<S> = {
					fake: fake(),
					storage,
					clock,
					session,
					alice,
					bob,
					first,
					sibling,
					infer,
				};
				// The pinned session keeps its account.
				expect(await storage.getApiKey(provider, session, selection)).toBe(first.apiKey);

				const ok = await infer(first.token);
				expect(ok.status).toBe(200);
				await options.afterFirstResponse?.(context, ok);
				let limited = ok;
				for (let calls = 1; limited.status === 200 && calls <= quota; calls++) limited = await infer(first.token);
				expect(limited.status).toBe(429);
				expect(fake().inferenceCount(first.account.id)).toBe(quota);
				const retryAfterMs = Number(limited.headers.get("retry-after")) * 1000;
				expect(retryAfterMs).toBeGreaterThan(0);

				const mark = await storage.markUsageLimitReached(provider, session, { retryAfterMs, ...selection });
				expect(mark).toEqual({ switched: true });
				await options.afterMark?.(context);

				const second = await turn(storage, session);
				expect(second.account.id).toBe(sibling.id);
				expect(second.token).not.toBe(first.token);
				expect((await infer(second.token)).status).toBe(200);
				// The session stays on the sibling, and a new session skips the blocked account too.
				expect(await storage.getApiKey(provider, session, selection)).toBe(second.apiKey);
				expect((await turn(storage, "s2")).account.id).toBe(sibling.id);

				const refreshes = options.refreshCallsTokenEndpoint ?? true;
				for (const account of [alice, bob]) {
					const wasExpired = startsExpired.has(account.id);
					// Each expired row was refreshed once, before it was handed out; a fresh row never was.
					expect(fake().refreshCount(account.id)).toBe(wasExpired && refreshes ? 1 : 0);
					if (wasExpired && refreshes) {
						expect(staleTokens.has(account.accessToken)).toBe(false);
						// The rotated refresh token was persisted with the new access token.
						const row = storage
							.listStoredCredentials(provider)
							.find(
								(entry) =>
									entry.credential.type === "oauth" &&
									(entry.credential as { access?: string }).access === account.accessToken,
							);
						expect(row?.credential).toMatchObject({ refresh: account.refreshToken });
					}
				}
				if (!refreshes || expired === "none") expect(fake().count(provider, "token")).toBe(0);
				await options.verify?.({ ...context, second });
			} finally {
				await closeAll();
			}
		});

		const envApiKey = options.envApiKey;
		if (envApiKey) {
			it(`falls back to ${envApiKey} when nothing is stored`, async () => {
				try {
					const value = `${provider}-key-from-env`;
					const storage = await newStorage({ [envApiKey]: value });
					expect(await storage.getApiKey(provider, "s1")).toBe(value);
					expect(fake().requests).toHaveLength(0);
				} finally {
					await closeAll();
				}
			});
		}
	});
}
