/**
 * How each simulated endpoint answers. Handlers are synchronous and never throw on bad input.
 */
import type { AccountRecord, FakeWorld, GrantOutcome, ResolvedWindow } from "./fake-world";
import type { FakeResponse } from "./http-io";
import { randomUUID } from "./tokens";
import type { FakeEndpoint } from "./types";
import {
	anthropicUsage,
	antigravityModels,
	codexResetCredits,
	codexUsage,
	copilotBilling,
	copilotUser,
	geminiQuota,
	githubUser,
	kimiUsage,
	loadCodeAssist,
	zaiModelUsage,
	zaiQuota,
} from "./usage-payloads";

/** Everything a handler may look at. */
export interface HandlerContext {
	world: FakeWorld;
	provider: string;
	endpoint: FakeEndpoint;
	/** Request path relative to `baseUrl(provider)`. */
	path: string;
	headers: Record<string, string>;
	body: unknown;
	query: Record<string, string>;
	params: string[];
	/** `fake.baseUrl(provider)`. */
	baseUrl: string;
	deviceIntervalSeconds: number;
	/** Marks the request as made by this account (for `requests[].accountId`). */
	attribute(accountId: string): void;
}

export type Handler = (ctx: HandlerContext) => FakeResponse;

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const isGoogle = (provider: string) => provider === "google-gemini-cli" || provider === "google-antigravity";

function field(body: unknown, key: string): string | undefined {
	if (typeof body !== "object" || body === null || Array.isArray(body)) return undefined;
	const value = (body as Record<string, unknown>)[key];
	return typeof value === "string" && value !== "" ? value : undefined;
}

function json(status: number, body: unknown, headers?: Record<string, string>): FakeResponse {
	return headers ? { status, body, headers } : { status, body };
}

function oauthError(status: number, error: string, description: string): FakeResponse {
	return json(status, { error, error_description: description });
}

/** The 401 body in each provider's usual shape. */
export function unauthorized(provider: string): FakeResponse {
	if (provider === "zai") return json(401, { code: 401, msg: "token expired or incorrect", success: false });
	if (isGoogle(provider)) {
		return json(401, {
			error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" },
		});
	}
	if (provider === "github-copilot") return json(401, { message: "Bad credentials" });
	return json(401, {
		type: "error",
		error: { type: "authentication_error", message: "invalid or expired access token" },
	});
}

/** The credential presented by a request, per the provider's scheme. */
function presentedToken(ctx: HandlerContext, mode: "bearer" | "raw" | "any"): string | undefined {
	const header = ctx.headers.authorization?.trim();
	if (header) {
		const match = /^(bearer|token)\s+(.+)$/i.exec(header);
		if (mode === "raw") return match ? undefined : header;
		if (match) {
			const scheme = (match[1] ?? "").toLowerCase();
			if (scheme === "token" && ctx.provider !== "github-copilot") return undefined;
			return match[2];
		}
		return mode === "any" ? header : undefined;
	}
	if (mode === "any") return ctx.headers["x-api-key"];
	return undefined;
}

function authenticated(
	ctx: HandlerContext,
	mode: "bearer" | "raw" | "any",
	answer: (record: AccountRecord) => FakeResponse,
): FakeResponse {
	const record = ctx.world.authenticate(ctx.provider, presentedToken(ctx, mode));
	if (!record) return unauthorized(ctx.provider);
	ctx.attribute(record.id);
	const raw = ctx.endpoint === "inference" || ctx.endpoint === "whoami" ? undefined : record.usage.raw?.[ctx.endpoint];
	if (raw !== undefined) return json(200, raw);
	return answer(record);
}

function tokenResponse(ctx: HandlerContext, record: AccountRecord, rotated: boolean): FakeResponse {
	const body: Record<string, unknown> = {
		access_token: record.accessToken,
		token_type: "Bearer",
		expires_in: Math.max(0, record.expiresAt - ctx.world.now()) / 1000,
	};
	// Google omits refresh_token unless it issued a new one; the others echo it.
	if (rotated || !isGoogle(ctx.provider)) body.refresh_token = record.refreshToken;
	switch (ctx.provider) {
		case "anthropic":
			body.scope = "user:inference user:profile user:sessions:claude_code";
			if (record.identityInTokenResponse) {
				body.account = { uuid: record.accountId, email_address: record.email };
				body.organization = { uuid: record.orgId, name: `${record.email ?? record.id}'s Organization` };
			}
			break;
		case "openai-codex":
			body.scope = "openid profile email offline_access";
			break;
		case "kimi-code":
			body.scope = "kimi-code";
			break;
		default:
			if (isGoogle(ctx.provider)) body.scope = "https://www.googleapis.com/auth/cloud-platform";
	}
	return json(200, body);
}

function grantAnswer(ctx: HandlerContext, outcome: GrantOutcome): FakeResponse {
	if (!outcome.ok) return oauthError(400, outcome.error, outcome.description);
	ctx.attribute(outcome.account.id);
	return tokenResponse(ctx, outcome.account, outcome.rotated);
}

const token: Handler = (ctx) => {
	if (typeof ctx.body !== "object" || ctx.body === null || Array.isArray(ctx.body)) {
		return oauthError(400, "invalid_request", "expected a JSON or form body");
	}
	const grant = field(ctx.body, "grant_type");
	const copilot = ctx.provider === "github-copilot";
	if (grant === DEVICE_GRANT && (copilot || ctx.provider === "kimi-code")) {
		const deviceCode = field(ctx.body, "device_code");
		if (!deviceCode) return oauthError(400, "invalid_request", "device_code is required");
		const outcome = ctx.world.pollDeviceCode(ctx.provider, deviceCode);
		if (!outcome.ok) {
			// GitHub answers device-flow errors with 200; OAuth servers like Kimi's use 400.
			return oauthError(copilot ? 200 : 400, outcome.error, outcome.description);
		}
		ctx.attribute(outcome.account.id);
		if (copilot)
			return json(200, { access_token: outcome.account.accessToken, token_type: "bearer", scope: "read:user" });
		return tokenResponse(ctx, outcome.account, true);
	}
	if (grant === "refresh_token" && !copilot) {
		const refreshToken = field(ctx.body, "refresh_token");
		if (!refreshToken) return oauthError(400, "invalid_request", "refresh_token is required");
		return grantAnswer(ctx, ctx.world.refresh(ctx.provider, refreshToken));
	}
	if (grant === "authorization_code" && !copilot) {
		const code = field(ctx.body, "code");
		if (!code) return oauthError(400, "invalid_request", "code is required");
		return grantAnswer(ctx, ctx.world.exchangeCode(ctx.provider, code));
	}
	return oauthError(400, "unsupported_grant_type", "grant_type is not supported here");
};

function pct(w: ResolvedWindow | undefined, exhausted: boolean): number | undefined {
	if (!w) return undefined;
	return exhausted ? Math.max(100, w.usedPercent) : w.usedPercent;
}

function rateLimitHeaders(
	ctx: HandlerContext,
	record: AccountRecord,
	exhausted?: "primary" | "secondary",
): Record<string, string> {
	const headers: Record<string, string> = {};
	const primary = ctx.world.primary(record);
	const secondary = ctx.world.secondary(record);
	const now = ctx.world.now();
	const seconds = (ms: number) => String(Math.floor(ms / 1000));
	if (ctx.provider === "anthropic") {
		const put = (name: string, w: ResolvedWindow | undefined, used: number | undefined) => {
			if (!w || used === undefined) return;
			headers[`anthropic-ratelimit-unified-${name}-utilization`] = String(Math.round(used * 100) / 10_000);
			headers[`anthropic-ratelimit-unified-${name}-reset`] = seconds(w.resetsAt);
		};
		put("5h", primary, pct(primary, exhausted === "primary"));
		put("7d", secondary, pct(secondary, exhausted === "secondary"));
		headers["anthropic-ratelimit-unified-status"] = exhausted ? "rejected" : "allowed";
	} else if (ctx.provider === "openai-codex") {
		const put = (name: string, w: ResolvedWindow | undefined, used: number | undefined) => {
			if (!w || used === undefined) return;
			headers[`x-codex-${name}-used-percent`] = String(Math.round(used * 100) / 100);
			headers[`x-codex-${name}-window-minutes`] = String(Math.round(w.windowMs / 60_000));
			headers[`x-codex-${name}-reset-at`] = seconds(w.resetsAt);
			headers[`x-codex-${name}-reset-after-seconds`] = String(Math.max(0, Math.ceil((w.resetsAt - now) / 1000)));
		};
		put("primary", primary, pct(primary, exhausted === "primary"));
		put("secondary", secondary, pct(secondary, exhausted === "secondary"));
		headers["x-codex-plan-type"] = record.plan ?? "plus";
	}
	return headers;
}

function streamRequested(body: unknown): boolean {
	return typeof body === "object" && body !== null && (body as Record<string, unknown>).stream === true;
}

const STREAM_WORDS = ["o", "k", " from", " the", " fake"];

/** A short server-sent-event answer: OpenAI chunks on `/v1/chat/completions`, Anthropic events otherwise. */
function sseChunks(path: string, model: string, accountId: string): string[] {
	const id = `msg_fake_${randomUUID()}`;
	const event = (name: string | undefined, data: unknown) =>
		`${name ? `event: ${name}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
	if (path === "/v1/chat/completions") {
		return [
			...STREAM_WORDS.map((word) =>
				event(undefined, {
					id,
					object: "chat.completion.chunk",
					model,
					choices: [{ index: 0, delta: { content: word } }],
				}),
			),
			event(undefined, "[DONE]"),
		];
	}
	return [
		event("message_start", { type: "message_start", message: { id, model, fakeAccountId: accountId } }),
		...STREAM_WORDS.map((word) =>
			event("content_block_delta", {
				type: "content_block_delta",
				index: 0,
				delta: { type: "text_delta", text: word },
			}),
		),
		event("message_stop", { type: "message_stop" }),
	];
}

const inference: Handler = (ctx) =>
	authenticated(ctx, "any", (record) => {
		const outcome = ctx.world.spend(record);
		const model = field(ctx.body, "model") ?? "fake-model";
		if (outcome.ok && streamRequested(ctx.body)) {
			return {
				status: 200,
				headers: {
					...rateLimitHeaders(ctx, record),
					"content-type": "text/event-stream",
					"cache-control": "no-cache",
				},
				chunks: sseChunks(ctx.path, model, record.id),
			};
		}
		if (outcome.ok) {
			return json(
				200,
				{
					id: `msg_fake_${randomUUID()}`,
					provider: ctx.provider,
					fakeAccountId: record.id,
					model,
					content: "ok",
					usage: { requests: record.spent, quota: Number.isFinite(record.quota) ? record.quota : null },
				},
				rateLimitHeaders(ctx, record),
			);
		}
		const now = ctx.world.now();
		const retryAfter = Math.max(1, Math.ceil((outcome.resetsAt - now) / 1000));
		const resetIso = new Date(outcome.resetsAt).toISOString();
		const headers = { ...rateLimitHeaders(ctx, record, outcome.window), "retry-after": String(retryAfter) };
		const message = `usage limit reached; quota will reset at ${resetIso}`;
		if (ctx.provider === "openai-codex") {
			return json(
				429,
				{
					error: {
						type: "usage_limit_reached",
						code: "usage_limit_reached",
						message: `You have hit your usage limit (${record.plan ?? "plus"} plan); quota will reset at ${resetIso}`,
						plan_type: record.plan ?? "plus",
						resets_at: Math.floor(outcome.resetsAt / 1000),
						resets_in_seconds: retryAfter,
					},
				},
				headers,
			);
		}
		return json(429, { type: "error", error: { type: "rate_limit_error", message } }, headers);
	});

const whoami: Handler = (ctx) =>
	authenticated(ctx, "any", (record) =>
		json(200, {
			fakeAccountId: record.id,
			provider: record.provider,
			accountId: record.accountId ?? null,
			email: record.email ?? null,
			expiresAt: record.expiresAt,
		}),
	);

const usage: Handler = (ctx) => {
	switch (ctx.provider) {
		case "anthropic":
			return authenticated(ctx, "bearer", (r) =>
				json(200, anthropicUsage(ctx.world, r), { "anthropic-organization-id": r.orgId }),
			);
		case "openai-codex":
			return authenticated(ctx, "bearer", (r) => json(200, codexUsage(ctx.world, r)));
		case "kimi-code":
			return authenticated(ctx, "bearer", (r) => json(200, kimiUsage(ctx.world, r)));
		case "zai":
			return authenticated(ctx, "raw", (r) => json(200, zaiQuota(ctx.world, r)));
		default:
			return json(404, { error: { type: "not_found", message: "no usage endpoint" } });
	}
};

function projectCheck(ctx: HandlerContext, record: AccountRecord, required: boolean): FakeResponse | undefined {
	const project = field(ctx.body, "project");
	if (!project && required) {
		return json(400, { error: { code: 400, message: "project is required", status: "INVALID_ARGUMENT" } });
	}
	if (project && project !== record.projectId) {
		return json(403, {
			error: { code: 403, message: "The caller does not have permission", status: "PERMISSION_DENIED" },
		});
	}
	return undefined;
}

const handlers: Record<Exclude<FakeEndpoint, "usage" | "inference" | "whoami" | "token">, Handler> = {
	profile: (ctx) =>
		authenticated(ctx, "bearer", (r) =>
			json(200, {
				account: { uuid: r.accountId, email: r.email, full_name: r.email?.split("@")[0] ?? r.id },
				organization: { uuid: r.orgId, name: `${r.email ?? r.id}'s Organization` },
			}),
		),
	bootstrap: (ctx) =>
		authenticated(ctx, "bearer", (r) =>
			json(200, {
				oauth_account: {
					account_uuid: r.accountId,
					account_email: r.email,
					organization_uuid: r.orgId,
					organization_name: `${r.email ?? r.id}'s Organization`,
				},
			}),
		),
	resetCredits: (ctx) => authenticated(ctx, "bearer", (r) => json(200, codexResetCredits(r))),
	consumeReset: (ctx) =>
		authenticated(ctx, "bearer", (r) => {
			const creditId = field(ctx.body, "credit_id");
			if (!creditId) return json(400, { code: "invalid_request", message: "credit_id is required" });
			const outcome = ctx.world.consumeReset(r, creditId, field(ctx.body, "redeem_request_id") ?? randomUUID());
			return json(outcome.status, { code: outcome.code });
		}),
	loadCodeAssist: (ctx) => authenticated(ctx, "bearer", (r) => json(200, loadCodeAssist(r))),
	retrieveUserQuota: (ctx) =>
		authenticated(ctx, "bearer", (r) => projectCheck(ctx, r, false) ?? json(200, geminiQuota(ctx.world, r))),
	fetchAvailableModels: (ctx) =>
		authenticated(ctx, "bearer", (r) => projectCheck(ctx, r, true) ?? json(200, antigravityModels(ctx.world, r))),
	userinfo: (ctx) =>
		authenticated(ctx, "bearer", (r) =>
			json(200, { id: String(100_000 + r.ordinal), email: r.email, verified_email: true }),
		),
	copilotUser: (ctx) => authenticated(ctx, "bearer", (r) => json(200, copilotUser(ctx.world, r, ctx.baseUrl))),
	githubUser: (ctx) => authenticated(ctx, "bearer", (r) => json(200, githubUser(r))),
	billing: (ctx) =>
		authenticated(ctx, "bearer", (r) =>
			decodeURIComponentSafe(ctx.params[0] ?? "") === r.accountId
				? json(200, copilotBilling(ctx.world, r))
				: json(404, { message: "Not Found" }),
		),
	deviceCode: (ctx) => {
		const device = ctx.world.startDeviceCode(ctx.provider, 900_000);
		const verification = `${ctx.baseUrl}/${ctx.provider === "github-copilot" ? "login/device" : "device"}`;
		const body: Record<string, unknown> = {
			device_code: device.deviceCode,
			user_code: device.userCode,
			verification_uri: verification,
			expires_in: 900,
			interval: ctx.deviceIntervalSeconds,
		};
		if (ctx.provider !== "github-copilot") {
			body.verification_uri_complete = `${verification}?user_code=${encodeURIComponent(device.userCode)}`;
		}
		return json(200, body);
	},
	modelUsage: (ctx) => authenticated(ctx, "raw", (r) => json(200, zaiModelUsage(r))),
};

function decodeURIComponentSafe(value: string): string {
	try {
		return decodeURIComponent(value);
	} catch {
		return value;
	}
}

/** The handler for an endpoint name. */
export function handlerFor(endpoint: FakeEndpoint): Handler {
	switch (endpoint) {
		case "token":
			return token;
		case "usage":
			return usage;
		case "inference":
			return inference;
		case "whoami":
			return whoami;
		default:
			return handlers[endpoint];
	}
}
