/** How a stored credential is shown to a person or a script: never its secrets unless asked. */
import type { AuthCredential, AuthStorage, StoredAuthCredential } from "@authpool/core";
import { jwtIdentity } from "@authpool/core";
import { duration, maskSecret } from "./output";

export interface CredentialView {
	id: number;
	provider: string;
	type: "api_key" | "oauth";
	account?: string;
	status: "active" | "blocked" | "disabled";
	blockedUntil?: number;
	disabledCause?: string;
	expires?: number;
	/** Fingerprints, or the values themselves with `--show-secrets`. */
	key?: string;
	access?: string;
	refresh?: string;
}

export function accountOf(credential: AuthCredential): string | undefined {
	if (credential.type === "api_key") return undefined;
	return (
		credential.email ??
		credential.accountId ??
		jwtIdentity(credential.access).email ??
		(typeof credential.projectId === "string" ? credential.projectId : undefined)
	);
}

/** Latest unexpired block per row id from the pool's snapshot. */
export function blockedUntilById(storage: AuthStorage, now: number): Map<number, number> {
	const out = new Map<number, number>();
	for (const entry of storage.exportSnapshot().credentials) {
		for (const block of entry.blocks) {
			if (block.blockedUntilMs > now) out.set(entry.id, Math.max(out.get(entry.id) ?? 0, block.blockedUntilMs));
		}
	}
	return out;
}

export function viewOf(
	row: StoredAuthCredential,
	options: { showSecrets: boolean; blockedUntil?: number; disabled?: boolean },
): CredentialView {
	const c = row.credential;
	const view: CredentialView = {
		id: row.id,
		provider: row.provider,
		type: c.type,
		status: options.disabled ? "disabled" : options.blockedUntil ? "blocked" : "active",
	};
	const account = accountOf(c);
	if (account) view.account = account;
	if (options.blockedUntil) view.blockedUntil = options.blockedUntil;
	if (row.disabledCause) view.disabledCause = row.disabledCause;
	if (c.type === "api_key") view.key = maskSecret(c.key, options.showSecrets);
	else {
		view.expires = c.expires;
		view.access = maskSecret(c.access, options.showSecrets);
		view.refresh = maskSecret(c.refresh, options.showSecrets);
	}
	return view;
}

export function statusText(view: CredentialView, now: number): string {
	if (view.status === "disabled") return `disabled: ${view.disabledCause ?? "unknown"}`;
	if (view.status === "blocked" && view.blockedUntil) return `blocked ${duration(view.blockedUntil - now)}`;
	return "active";
}
