import { describe, expect, it } from "vitest";
import { AuthStorage } from "../auth-storage";
import { fakeOAuthPlugin, manualClock, oauth } from "../auth-storage.test-utils";
import { AuthpoolError } from "../errors";
import { createMemoryStore } from "../store/memory-store";
import { classifyRequestFailure, WITH_AUTH_MAX_ATTEMPTS } from "./retry";

const httpError = (status: number, message = `HTTP ${status}`) => Object.assign(new Error(message), { status });

async function setup(emails: string[], apiKeys: string[] = []) {
	const clock = manualClock();
	const plugin = fakeOAuthPlugin("acme", clock);
	const store = createMemoryStore({ clock });
	for (const email of emails) await store.rows.insert("acme", oauth(email, clock.now()));
	for (const key of apiKeys) await store.rows.insert("acme", { type: "api_key", key });
	const storage = new AuthStorage(store, { providers: [plugin], clock, env: {} });
	await storage.reload();
	return { clock, plugin, store, storage };
}

/** A request that fails with `failures[key]` (per call, in order) and otherwise answers `ok:<key>`. */
function scripted(failures: Record<string, unknown[]> | ((key: string) => unknown)) {
	const keys: string[] = [];
	const request = async (key: string, attempt: number) => {
		keys.push(key);
		expect(attempt).toBe(keys.length);
		const failure = typeof failures === "function" ? failures(key) : failures[key]?.shift();
		if (failure !== undefined) throw failure;
		return `ok:${key}`;
	};
	return { keys, request };
}

const owner = (key: string) => key.replace(/^access-/, "").replace(/-r?\d+$/, "");

describe("classifyRequestFailure", () => {
	it("sorts the failures the retry loop acts on from those it returns", () => {
		expect(classifyRequestFailure(httpError(401))).toBe("auth");
		expect(classifyRequestFailure(httpError(403, "forbidden"))).toBe("forbidden");
		expect(classifyRequestFailure(httpError(403, "too many concurrent sessions"))).toBe("concurrency");
		expect(classifyRequestFailure(httpError(429, "You exceeded your current quota: insufficient_quota"))).toBe(
			"usage-limit",
		);
		expect(classifyRequestFailure(httpError(400, "usage_limit_reached"))).toBe("usage-limit");
		expect(classifyRequestFailure(httpError(429, "Rate limit: too many requests per minute"))).toBe("return");
		expect(classifyRequestFailure(httpError(503))).toBe("return");
		expect(classifyRequestFailure(new Error("fetch failed: ECONNRESET"))).toBe("return");
	});
});

describe("withAuth", () => {
	it("answers with the first key when the request succeeds", async () => {
		const { storage } = await setup(["a@x.io", "b@x.io"]);
		const { keys, request } = scripted({});
		expect(await storage.withAuth("acme", request, { sessionId: "s" })).toMatch(/^ok:access-/);
		expect(keys).toHaveLength(1);
	});

	it("401 → the same row force-refreshed; a second 401 → a sibling", async () => {
		const { storage, plugin } = await setup(["a@x.io", "b@x.io"]);
		const first = (await storage.getApiKey("acme", "s"))!;
		const { keys, request } = scripted((key) => (owner(key) === owner(first) ? httpError(401) : undefined));
		const result = await storage.withAuth("acme", request, { sessionId: "s" });
		expect(keys).toHaveLength(3);
		expect(owner(keys[1]!)).toBe(owner(first)); // refreshed, same account
		expect(keys[1]).not.toBe(first);
		expect(owner(keys[2]!)).not.toBe(owner(first)); // then the sibling
		expect(result).toBe(`ok:${keys[2]}`);
		expect(plugin.refreshCalls).toBe(1);
		// The session moved to the sibling.
		expect(await storage.getApiKey("acme", "s")).toBe(keys[2]);
	});

	it("401 on a refreshed token that then works stays on the same row", async () => {
		const { storage, plugin } = await setup(["a@x.io", "b@x.io"]);
		const first = (await storage.getApiKey("acme", "s"))!;
		const { keys, request } = scripted({ [first]: [httpError(401)] });
		await storage.withAuth("acme", request, { sessionId: "s" });
		expect(keys.map(owner)).toEqual([owner(first), owner(first)]);
		expect(plugin.refreshCalls).toBe(1);
	});

	it("403 → a sibling without a refresh; a concurrency cap is returned", async () => {
		const { storage, plugin } = await setup(["a@x.io", "b@x.io"]);
		const first = (await storage.getApiKey("acme", "s403"))!;
		const forbidden = scripted({ [first]: [httpError(403, "forbidden")] });
		await storage.withAuth("acme", forbidden.request, { sessionId: "s403" });
		expect(forbidden.keys).toHaveLength(2);
		expect(owner(forbidden.keys[0]!)).not.toBe(owner(forbidden.keys[1]!));
		expect(plugin.refreshCalls).toBe(0);

		const cap = httpError(403, "Too many concurrent requests for this account");
		const capped = scripted(() => cap);
		await expect(storage.withAuth("acme", capped.request, { sessionId: "cap" })).rejects.toBe(cap);
		expect(capped.keys).toHaveLength(1);
	});

	it("a usage limit or insufficient_quota blocks the row until its reset and rotates", async () => {
		const { storage } = await setup(["a@x.io", "b@x.io", "c@x.io"]);
		const first = (await storage.getApiKey("acme", "s"))!;
		const { keys, request } = scripted({
			[first]: [httpError(429, "insufficient_quota: you exceeded your current quota")],
		});
		const result = await storage.withAuth("acme", request, { sessionId: "s" });
		expect(keys).toHaveLength(2);
		expect(owner(keys[1]!)).not.toBe(owner(first));
		expect(result).toBe(`ok:${keys[1]}`);
		// Blocked for everyone, not just this session.
		const pins = new Set<string>();
		for (let i = 0; i < 30; i += 1) pins.add(owner((await storage.getApiKey("acme", `other-${i}`))!));
		expect(pins.has(owner(first))).toBe(false);
	});

	it("a generic 429, a 5xx and a network error go back to the caller untouched", async () => {
		const { storage, plugin } = await setup(["a@x.io", "b@x.io"]);
		for (const failure of [
			httpError(429, "Rate limit: too many requests per minute"),
			httpError(502, "bad gateway"),
			new Error("fetch failed: ECONNRESET"),
		]) {
			const { keys, request } = scripted(() => failure);
			await expect(storage.withAuth("acme", request, { sessionId: "g" })).rejects.toBe(failure);
			expect(keys).toHaveLength(1);
		}
		expect(plugin.refreshCalls).toBe(0);
		// Nothing was blocked: the session still has its account.
		expect(await storage.getSessionPin("acme", "g")).toMatchObject({ state: "active" });
	});

	it("never tries a key twice: every key forbidden → each once, then the last error", async () => {
		const { storage } = await setup(["a@x.io", "b@x.io", "c@x.io"]);
		const { keys, request } = scripted(() => httpError(403, "forbidden"));
		await expect(storage.withAuth("acme", request, { maxAttempts: 10 })).rejects.toMatchObject({ status: 403 });
		expect(keys).toHaveLength(3);
		expect(new Set(keys).size).toBe(3);
	});

	it("API keys: a 401 cannot be refreshed, so a sibling key is next", async () => {
		const { storage } = await setup([], ["test-key-1", "test-key-2"]);
		const { keys, request } = scripted({ "test-key-1": [httpError(401)], "test-key-2": [httpError(401)] });
		const outcome = await storage.withAuth("acme", request).catch((error: unknown) => error);
		expect(new Set(keys)).toEqual(new Set(["test-key-1", "test-key-2"]));
		expect(keys).toHaveLength(2);
		expect(outcome).toMatchObject({ status: 401 });
	});

	it("the signal stops the loop; maxAttempts caps it (hard cap too); no key at all is NO_CREDENTIAL", async () => {
		const { storage } = await setup(Array.from({ length: 20 }, (_, i) => `u${i}@x.io`));
		const controller = new AbortController();
		const aborting = scripted(() => {
			controller.abort();
			return httpError(403, "forbidden");
		});
		const aborted = await storage
			.withAuth("acme", aborting.request, { signal: controller.signal })
			.catch((error: unknown) => error);
		expect(AuthpoolError.isInstance(aborted) && aborted.code).toBe("ABORTED");
		expect(aborting.keys).toHaveLength(1);

		const two = scripted(() => httpError(403, "forbidden"));
		await expect(storage.withAuth("acme", two.request, { maxAttempts: 2 })).rejects.toMatchObject({ status: 403 });
		expect(two.keys).toHaveLength(2);

		const capped = scripted(() => httpError(403, "forbidden"));
		await expect(storage.withAuth("acme", capped.request, { maxAttempts: 32 })).rejects.toMatchObject({ status: 403 });
		expect(capped.keys).toHaveLength(WITH_AUTH_MAX_ATTEMPTS);
		await expect(storage.withAuth("acme", capped.request, { maxAttempts: 0 })).rejects.toMatchObject({
			code: "INVALID_INPUT",
		});

		const empty = await setup([]);
		await expect(empty.storage.withAuth("acme", async () => "x")).rejects.toMatchObject({ code: "NO_CREDENTIAL" });
	});
});

describe("cycleStoredApiKey", () => {
	it("moves a session to the next stored key; undefined with fewer than two", async () => {
		const { storage } = await setup([], ["test-key-1", "test-key-2", "test-key-3"]);
		const start = (await storage.getApiKey("acme", "s"))!;
		const next = await storage.cycleStoredApiKey("acme", "s");
		expect(next).toBeDefined();
		expect(next).not.toBe(start);
		expect(await storage.getApiKey("acme", "s")).toBe(next);
		const third = await storage.cycleStoredApiKey("acme", "s");
		expect(new Set([start, next, third]).size).toBe(3);
		expect(await storage.cycleStoredApiKey("acme", "s")).toBe(start);
		// A blocked key is skipped.
		await storage.markUsageLimitReached("acme", undefined, { apiKey: next! });
		expect(await storage.cycleStoredApiKey("acme", "s")).toBe(third);

		const single = await setup([], ["test-key-1"]);
		expect(await single.storage.cycleStoredApiKey("acme", "s")).toBeUndefined();
		await expect(single.storage.cycleStoredApiKey("acme", "" as never)).rejects.toMatchObject({
			code: "INVALID_INPUT",
		});
	});
});
