/**
 * Which real path of which provider maps to which endpoint name. Paths are relative to
 * `baseUrl(provider)`: the real URL with its host dropped.
 */
import type { FakeEndpoint } from "./types";

interface Route {
	method: "GET" | "POST";
	path: string | RegExp;
	endpoint: FakeEndpoint;
}

const GOOGLE_COMMON: Route[] = [
	{ method: "POST", path: "/token", endpoint: "token" },
	{ method: "POST", path: "/v1internal:loadCodeAssist", endpoint: "loadCodeAssist" },
	{ method: "GET", path: "/oauth2/v1/userinfo", endpoint: "userinfo" },
];

const ROUTES: Record<string, Route[]> = {
	anthropic: [
		{ method: "POST", path: "/v1/oauth/token", endpoint: "token" },
		{ method: "GET", path: "/api/oauth/usage", endpoint: "usage" },
		{ method: "GET", path: "/api/oauth/profile", endpoint: "profile" },
		{ method: "GET", path: "/api/claude_cli/bootstrap", endpoint: "bootstrap" },
	],
	"openai-codex": [
		{ method: "POST", path: "/oauth/token", endpoint: "token" },
		{ method: "GET", path: "/backend-api/wham/usage", endpoint: "usage" },
		{ method: "GET", path: "/backend-api/wham/rate-limit-reset-credits", endpoint: "resetCredits" },
		{ method: "POST", path: "/backend-api/wham/rate-limit-reset-credits/consume", endpoint: "consumeReset" },
	],
	"google-gemini-cli": [
		...GOOGLE_COMMON,
		{ method: "POST", path: "/v1internal:retrieveUserQuota", endpoint: "retrieveUserQuota" },
	],
	"google-antigravity": [
		...GOOGLE_COMMON,
		{ method: "POST", path: "/v1internal:fetchAvailableModels", endpoint: "fetchAvailableModels" },
	],
	"github-copilot": [
		{ method: "GET", path: "/copilot_internal/user", endpoint: "copilotUser" },
		{ method: "GET", path: "/user", endpoint: "githubUser" },
		{ method: "GET", path: /^\/users\/([^/]+)\/settings\/billing\/premium_request\/usage$/, endpoint: "billing" },
		{ method: "POST", path: "/login/device/code", endpoint: "deviceCode" },
		{ method: "POST", path: "/login/oauth/access_token", endpoint: "token" },
	],
	"kimi-code": [
		{ method: "POST", path: "/api/oauth/token", endpoint: "token" },
		{ method: "POST", path: "/api/oauth/device_authorization", endpoint: "deviceCode" },
		{ method: "GET", path: "/coding/v1/usages", endpoint: "usage" },
	],
	zai: [
		{ method: "GET", path: "/api/monitor/usage/quota/limit", endpoint: "usage" },
		{ method: "GET", path: "/api/monitor/usage/model-usage", endpoint: "modelUsage" },
	],
	"opencode-go": [],
	ollama: [],
	"ollama-cloud": [],
};

const GENERIC: Route[] = [{ method: "POST", path: "/oauth/token", endpoint: "token" }];

const COMMON: Route[] = [
	{ method: "POST", path: "/inference", endpoint: "inference" },
	// The real APIs' paths, so a gateway or SDK pointed at baseUrl(provider) works unchanged.
	{ method: "POST", path: "/v1/messages", endpoint: "inference" },
	{ method: "POST", path: "/v1/chat/completions", endpoint: "inference" },
	{ method: "POST", path: "/v1/responses", endpoint: "inference" },
	{ method: "GET", path: "/_fake/whoami", endpoint: "whoami" },
];

/** Is this one of the providers the fake simulates natively? */
export function isNativeProvider(provider: string): boolean {
	return Object.hasOwn(ROUTES, provider);
}

/** A matched route: the endpoint, regex captures, and whether only the method was wrong. */
export interface RouteMatch {
	endpoint: FakeEndpoint;
	params: string[];
	methodAllowed: boolean;
}

/** Resolves `method path` (relative to the provider prefix) to an endpoint. */
export function matchRoute(provider: string, method: string, path: string): RouteMatch | undefined {
	const routes = [...(ROUTES[provider] ?? GENERIC), ...COMMON];
	let wrongMethod: RouteMatch | undefined;
	for (const route of routes) {
		let params: string[] | undefined;
		if (typeof route.path === "string") params = route.path === path ? [] : undefined;
		else params = route.path.exec(path)?.slice(1);
		if (!params) continue;
		if (route.method === method) return { endpoint: route.endpoint, params, methodAllowed: true };
		wrongMethod ??= { endpoint: route.endpoint, params, methodAllowed: false };
	}
	return wrongMethod;
}
