import {
	AbortedError,
	AuthpoolError,
	isRecord,
	type OAuthLoginCallbacks,
	type OAuthLoginResult,
	type PluginContext,
	toNumber,
} from "@authpool/core";

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
// RFC 8628 defaults: 5 s between polls, +5 s on slow_down.
const DEFAULT_INTERVAL_S = 5;
const SLOW_DOWN_S = 5;
const DEFAULT_DEVICE_LIFETIME_S = 900;
// A flaky network during a long approval wait should not kill the login; a dead endpoint should.
const MAX_CONSECUTIVE_TRANSIENT = 5;
// Guard against an endpoint that answers "pending" forever while the clock stands still.
const MAX_POLLS = 1000;
const FIVE_MINUTES = 5 * 60_000;

/** Sleep between device-login polls; injectable so tests never wait. Must reject when `signal` aborts. */
export type KimiPollWait = (delayMs: number, signal: AbortSignal) => Promise<void>;

/** Where and how the device login talks. */
export interface KimiLoginConfig {
	/** OAuth host after env overrides (`KIMI_CODE_OAUTH_HOST` / `KIMI_OAUTH_HOST`). */
	oauthHost: string;
	clientId: string;
	/** The Kimi CLI common headers. */
	headers: () => Record<string, string>;
	pollWait?: KimiPollWait;
}

/** Abortable `setTimeout` sleep (the default poll wait). */
export function abortableWait(delayMs: number, signal: AbortSignal): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal.aborted) return reject(new AbortedError("kimi-code login aborted"));
		const timer = setTimeout(() => {
			signal.removeEventListener("abort", onAbort);
			resolve();
		}, delayMs);
		const onAbort = () => {
			clearTimeout(timer);
			reject(new AbortedError("kimi-code login aborted"));
		};
		signal.addEventListener("abort", onAbort, { once: true });
	});
}

interface FormAnswer {
	status: number;
	body: Record<string, unknown>;
}

/** POST a form; `undefined` on a network error (the caller decides whether that is fatal). */
async function postForm(
	config: KimiLoginConfig,
	ctx: PluginContext,
	path: string,
	form: Record<string, string>,
): Promise<FormAnswer | undefined> {
	let response: Response;
	try {
		response = await ctx.fetch(`${config.oauthHost}${path}`, {
			method: "POST",
			headers: {
				...config.headers(),
				Accept: "application/json",
				"Content-Type": "application/x-www-form-urlencoded",
			},
			body: new URLSearchParams(form).toString(),
			signal: ctx.signal,
		});
	} catch (error) {
		if (ctx.signal.aborted) throw new AbortedError("kimi-code login aborted");
		ctx.logger.debug("kimi-code: login request errored", { error: error instanceof Error ? error.name : "unknown" });
		return undefined;
	}
	const text = await response.text().catch(() => "");
	let parsed: unknown;
	try {
		parsed = text ? JSON.parse(text) : undefined;
	} catch {
		parsed = undefined;
	}
	return { status: response.status, body: isRecord(parsed) ? parsed : {} };
}

function str(value: unknown): string | undefined {
	return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * Kimi device-code login (RFC 8628): `POST /api/oauth/device_authorization {client_id}`, show the
 * verification URL and user code through `onAuth`, then poll `/api/oauth/token` with the device grant
 * (`authorization_pending` → keep polling, `slow_down` → +5 s, `expired_token` / `access_denied` → fail).
 * Returns the OAuth credential with `expires = now + expires_in·1000 − 5 min` (same skew as refresh).
 * @throws AuthpoolError `UPSTREAM_ERROR` (refused, denied, malformed answer), `TIMEOUT` (code expired),
 *   `ABORTED` when `ctx.signal` aborts.
 */
export async function loginKimiWithDeviceCode(
	config: KimiLoginConfig,
	callbacks: OAuthLoginCallbacks,
	ctx: PluginContext,
): Promise<OAuthLoginResult> {
	const wait = config.pollWait ?? abortableWait;
	const device = await postForm(config, ctx, "/api/oauth/device_authorization", { client_id: config.clientId });
	if (!device)
		throw new AuthpoolError("UPSTREAM_ERROR", "kimi-code login: device authorization failed (network error)");
	const deviceCode = str(device.body.device_code);
	const userCode = str(device.body.user_code);
	if (device.status >= 400 || !deviceCode || !userCode) {
		throw new AuthpoolError("UPSTREAM_ERROR", `kimi-code login: device authorization failed (HTTP ${device.status})`, {
			details: { status: device.status },
		});
	}
	const url =
		str(device.body.verification_uri_complete) ?? str(device.body.verification_uri) ?? "https://www.kimi.com/code";
	callbacks.onAuth({ url, instructions: `Enter code: ${userCode}` });

	let intervalS = toNumber(device.body.interval) ?? DEFAULT_INTERVAL_S;
	const deadline = ctx.clock.now() + (toNumber(device.body.expires_in) ?? DEFAULT_DEVICE_LIFETIME_S) * 1000;
	let transient = 0;
	for (let poll = 0; poll < MAX_POLLS && ctx.clock.now() < deadline; poll++) {
		await wait(intervalS * 1000, ctx.signal);
		if (ctx.signal.aborted) throw new AbortedError("kimi-code login aborted");
		const answer = await postForm(config, ctx, "/api/oauth/token", {
			client_id: config.clientId,
			device_code: deviceCode,
			grant_type: DEVICE_GRANT,
		});
		if (!answer || answer.status >= 500 || answer.status === 429) {
			transient++;
			if (transient >= MAX_CONSECUTIVE_TRANSIENT) {
				throw new AuthpoolError(
					"UPSTREAM_ERROR",
					`kimi-code login: token endpoint unavailable (${answer ? `HTTP ${answer.status}` : "network error"})`,
				);
			}
			continue;
		}
		transient = 0;
		const body = answer.body;
		const access = str(body.access_token);
		if (answer.status < 400 && access) {
			const refresh = str(body.refresh_token);
			if (!refresh) throw new AuthpoolError("UPSTREAM_ERROR", "kimi-code login: token response missing refresh_token");
			callbacks.onProgress?.("Kimi login approved");
			return {
				access,
				refresh,
				expires: ctx.clock.now() + (toNumber(body.expires_in) ?? 0) * 1000 - FIVE_MINUTES,
			};
		}
		const error = str(body.error);
		if (error === "authorization_pending") continue;
		if (error === "slow_down") {
			intervalS += SLOW_DOWN_S;
			continue;
		}
		if (error === "expired_token") {
			throw new AuthpoolError("TIMEOUT", "kimi-code login: the device code expired before approval", {
				details: { errorCode: error },
			});
		}
		throw new AuthpoolError(
			"UPSTREAM_ERROR",
			error === "access_denied"
				? "kimi-code login: the user denied access"
				: `kimi-code login failed: ${error ?? `HTTP ${answer.status}`}`,
			{ details: { status: answer.status, ...(error ? { errorCode: error } : {}) } },
		);
	}
	throw new AuthpoolError("TIMEOUT", "kimi-code login: the device code expired before approval");
}
