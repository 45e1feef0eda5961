import { arch, hostname, version as osVersion, release, userInfo } from "node:os";
import type { Env, OAuthCredential, OAuthRefreshResult, PluginContext, ProviderPlugin } from "@authpool/core";
import { invalidOptions, requestOAuthToken, requireTokenFields, sha256Hex, tokenExpiry } from "@authpool/core";
import { z } from "zod";
import { type KimiPollWait, loginKimiWithDeviceCode } from "./kimi-login";
import { createKimiUsageProvider } from "./kimi-usage";

/** Public client id of the Kimi CLI device-code OAuth app. */
export const KIMI_CLIENT_ID = "17e5f671-d194-4dfb-9706-5516cb48c098";
const FIVE_MINUTES = 5 * 60_000;

/** URLs the plugin calls (tests point them at the fake provider). */
export interface KimiEndpoints {
	/** OAuth host; env `KIMI_CODE_OAUTH_HOST` / `KIMI_OAUTH_HOST` win over it. @default "https://auth.kimi.com" */
	oauthHost: string;
	/** Usage API base; `params.baseUrl` and env `KIMI_CODE_BASE_URL` win over it. @default "https://api.kimi.com/coding/v1" */
	usageBaseUrl: string;
}

export interface KimiPluginOptions {
	endpoints?: Partial<KimiEndpoints>;
	/** @default KIMI_CLIENT_ID */
	clientId?: string;
	/** Version sent in `User-Agent: KimiCLI/<v>` and `X-Msh-Version`. @default "1.0.0" */
	clientVersion?: string;
	/** 32-hex device id sent as `X-Msh-Device-Id`. @default a stable hash of host + user */
	deviceId?: string;
	/** Sleep between device-login polls (tests pass an instant one). @default an abortable `setTimeout` */
	pollWait?: KimiPollWait;
}

const optionsSchema = z
	.object({
		endpoints: z.object({ oauthHost: z.string().url(), usageBaseUrl: z.string().url() }).partial().optional(),
		clientId: z.string().min(1).optional(),
		clientVersion: z.string().min(1).optional(),
		deviceId: z
			.string()
			.regex(/^[0-9a-f]{32}$/)
			.optional(),
		pollWait: z.custom<KimiPollWait>((v) => typeof v === "function", "must be a function").optional(),
	})
	.strict();

/** Header values must be printable ASCII. */
function ascii(value: string): string {
	return value.replace(/[^\x20-\x7e]/g, "").trim();
}

function deviceModel(): string {
	const platform = process.platform === "darwin" ? "macOS" : process.platform === "win32" ? "Windows" : "Linux";
	return `${platform} ${release()} ${arch()}`;
}

function defaultDeviceId(): string {
	let user = "";
	try {
		user = userInfo().username;
	} catch {
		// Some containers have no passwd entry.
	}
	return sha256Hex(`authpool-kimi-device:${hostname()}:${user}`).slice(0, 32);
}

/** The Kimi CLI's common request headers. */
export function kimiCommonHeaders(clientVersion: string, deviceId: string): Record<string, string> {
	return {
		"User-Agent": ascii(`KimiCLI/${clientVersion}`),
		"X-Msh-Platform": "kimi_cli",
		"X-Msh-Version": ascii(clientVersion),
		"X-Msh-Device-Name": ascii(hostname()),
		"X-Msh-Device-Model": ascii(deviceModel()),
		"X-Msh-Os-Version": ascii(osVersion()),
		"X-Msh-Device-Id": deviceId,
	};
}

function oauthHost(env: Env, fallback: string): string {
	return (env.KIMI_CODE_OAUTH_HOST || env.KIMI_OAUTH_HOST || fallback).replace(/\/+$/, "");
}

/**
 * Build the `kimi-code` plugin: device-code OAuth login and refresh (form body, rotation accepted when
 * returned), usage limits from `/usages`, API key from `KIMI_API_KEY`.
 * @throws AuthpoolError `INVALID_OPTIONS` for malformed options.
 * @example
 * const storage = new AuthStorage(store, { providers: [createKimiPlugin()] });
 */
export function createKimiPlugin(options: KimiPluginOptions = {}): ProviderPlugin {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) throw invalidOptions("kimi-code plugin", parsed.error.issues);
	const endpoints: KimiEndpoints = {
		oauthHost: "https://auth.kimi.com",
		usageBaseUrl: "https://api.kimi.com/coding/v1",
		...parsed.data.endpoints,
	};
	const clientId = parsed.data.clientId ?? KIMI_CLIENT_ID;
	const clientVersion = parsed.data.clientVersion ?? "1.0.0";
	const deviceId = parsed.data.deviceId ?? defaultDeviceId();
	const headers = () => kimiCommonHeaders(clientVersion, deviceId);
	const pollWait = parsed.data.pollWait;

	return {
		id: "kimi-code",
		name: "Kimi Code",
		envApiKeys: ["KIMI_API_KEY"],
		usage: createKimiUsageProvider({ usageBaseUrl: endpoints.usageBaseUrl, headers }),
		oauth: {
			// Kimi may return a new refresh token; the old one is then spent.
			rotatesRefreshToken: true,
			async refresh(credential: OAuthCredential, ctx: PluginContext): Promise<OAuthRefreshResult> {
				const body = await requestOAuthToken(
					{
						provider: "kimi-code",
						url: `${oauthHost(ctx.env, endpoints.oauthHost)}/api/oauth/token`,
						encoding: "form",
						body: { grant_type: "refresh_token", refresh_token: credential.refresh, client_id: clientId },
						headers: headers(),
						secrets: [credential.access],
					},
					ctx,
				);
				requireTokenFields("kimi-code", body, ["access_token"]);
				const refresh =
					typeof body.refresh_token === "string" && body.refresh_token ? body.refresh_token : credential.refresh;
				return {
					access: body.access_token as string,
					refresh,
					// Clamped: a bad expires_in must not leave a token that is already due for refresh.
					expires: tokenExpiry(ctx, "kimi-code", body.expires_in, FIVE_MINUTES),
				};
			},
			login: (callbacks, ctx) =>
				loginKimiWithDeviceCode(
					{
						oauthHost: oauthHost(ctx.env, endpoints.oauthHost),
						clientId,
						headers,
						...(pollWait ? { pollWait } : {}),
					},
					callbacks,
					ctx,
				),
		},
	};
}

/** The `kimi-code` plugin with the real endpoints. */
export const kimiCode: ProviderPlugin = createKimiPlugin();
