/**
 * The paste-code PKCE login many providers share: show an authorize URL, read the pasted redirect URL
 * (or `code#state`, or a bare code), check the state, exchange the code.
 */
import { AuthpoolError } from "../errors";
import type { OAuthLoginCallbacks, PluginContext } from "../plugin";
import { requestOAuthToken } from "./oauth-http";
import { createPkcePair, parseAuthorizationInput } from "./pkce";

export interface PasteCodeLogin {
	/** Provider id, for messages. */
	provider: string;
	authorizeUrl: string;
	tokenUrl: string;
	clientId: string;
	redirectUri: string;
	scope: string;
	/** Extra authorize-URL parameters (after the standard ones). */
	authorizeParams?: Record<string, string>;
	/** Body encoding of the code exchange. */
	encoding: "json" | "form";
	/** Extra token-request headers. */
	tokenHeaders?: Record<string, string>;
	/** Send `state` in the exchange body (Anthropic does). @default false */
	sendStateInExchange?: boolean;
	/** PKCE verifier length in random bytes. @default 64 */
	verifierBytes?: number;
	/** Text shown with the URL. */
	instructions?: string;
}

/**
 * Run a paste-code login and return the token endpoint's JSON body (the caller maps it to a credential).
 * @throws AuthpoolError `INVALID_INPUT` when there is no `onPrompt`, nothing was pasted, or the pasted
 *   state belongs to another attempt; `OAuthRefreshError` when the exchange fails.
 */
export async function pasteCodeLogin(
	login: PasteCodeLogin,
	callbacks: OAuthLoginCallbacks,
	ctx: PluginContext,
): Promise<Record<string, unknown>> {
	if (!callbacks.onPrompt) {
		throw new AuthpoolError(
			"INVALID_INPUT",
			`${login.provider} login needs an onPrompt callback to read the pasted code`,
		);
	}
	const pkce = createPkcePair(login.verifierBytes ?? 64);
	const url = new URL(login.authorizeUrl);
	const params: Record<string, string> = {
		response_type: "code",
		client_id: login.clientId,
		redirect_uri: login.redirectUri,
		scope: login.scope,
		code_challenge: pkce.challenge,
		code_challenge_method: "S256",
		state: pkce.state,
		...login.authorizeParams,
	};
	for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
	callbacks.onAuth({
		url: url.toString(),
		instructions: login.instructions ?? "Sign in, then paste the authorization code (or the full redirect URL).",
	});
	const input = await callbacks.onPrompt({ message: "Paste the authorization code (or full redirect URL):" });
	const { code, state } = parseAuthorizationInput(input);
	if (!code) throw new AuthpoolError("INVALID_INPUT", `${login.provider} login: no authorization code was entered`);
	if (state !== undefined && state !== pkce.state) {
		throw new AuthpoolError(
			"INVALID_INPUT",
			`${login.provider} login: the pasted code belongs to another login attempt`,
		);
	}
	callbacks.onProgress?.("Exchanging the authorization code");
	return requestOAuthToken(
		{
			provider: login.provider,
			purpose: "authorization code exchange",
			url: login.tokenUrl,
			encoding: login.encoding,
			body: {
				grant_type: "authorization_code",
				client_id: login.clientId,
				code,
				...(login.sendStateInExchange ? { state: state ?? pkce.state } : {}),
				redirect_uri: login.redirectUri,
				code_verifier: pkce.verifier,
			},
			...(login.tokenHeaders ? { headers: login.tokenHeaders } : {}),
		},
		ctx,
	);
}
