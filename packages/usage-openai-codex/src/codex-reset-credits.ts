import { randomUUID } from "node:crypto";
import {
	AuthpoolError,
	type FetchLike,
	isRecord,
	type ResetCredit,
	type ResetCreditList,
	type ResetCreditRedeemResult,
	toNumber,
} from "@authpool/core";
import { codexHeaders } from "./codex-request-headers";

export interface CodexResetCreditsRequest {
	accessToken: string;
	accountId?: string;
	/** Already normalised backend base (…/backend-api). */
	baseUrl: string;
	fetch: FetchLike;
	signal?: AbortSignal;
}

function optionalString(value: unknown): string | undefined {
	return typeof value === "string" ? value : undefined;
}

function nullableString(value: unknown): string | null | undefined {
	return value === null ? null : optionalString(value);
}

/** One credit of the list response; `undefined` without a string id. */
export function parseCodexResetCredit(value: unknown): ResetCredit | undefined {
	if (!isRecord(value) || typeof value.id !== "string") return undefined;
	const fields: Record<string, string | null | undefined> = {
		resetType: optionalString(value.reset_type),
		status: optionalString(value.status),
		grantedAt: optionalString(value.granted_at),
		expiresAt: optionalString(value.expires_at),
		redeemStartedAt: nullableString(value.redeem_started_at),
		redeemedAt: nullableString(value.redeemed_at),
		title: optionalString(value.title),
		description: optionalString(value.description),
	};
	const credit: ResetCredit = { id: value.id };
	for (const [key, field] of Object.entries(fields)) {
		if (field !== undefined) (credit as unknown as Record<string, unknown>)[key] = field;
	}
	return credit;
}

/** `{credits, availableCount}` from a list body; `null` for a non-object body. */
export function parseCodexResetCreditList(body: unknown): ResetCreditList | null {
	if (!isRecord(body)) return null;
	const credits = (Array.isArray(body.credits) ? body.credits : [])
		.map(parseCodexResetCredit)
		.filter((credit): credit is ResetCredit => credit !== undefined);
	const count = toNumber(body.available_count);
	const availableCount =
		count !== undefined
			? Math.max(0, Math.trunc(count))
			: credits.filter((credit) => credit.status === undefined || credit.status === "available").length;
	return { credits, availableCount };
}

/** `GET {base}/wham/rate-limit-reset-credits`; `null` on a non-2xx, a network error or a bad body. */
export async function listCodexResetCredits(request: CodexResetCreditsRequest): Promise<ResetCreditList | null> {
	try {
		const response = await request.fetch(`${request.baseUrl}/wham/rate-limit-reset-credits`, {
			method: "GET",
			headers: codexHeaders(request.accessToken, request.accountId),
			...(request.signal ? { signal: request.signal } : {}),
		});
		if (!response.ok) {
			void response.body?.cancel().catch(() => {});
			return null;
		}
		return parseCodexResetCreditList(await response.json());
	} catch {
		return null;
	}
}

/**
 * `POST {base}/wham/rate-limit-reset-credits/consume`. `redeemRequestId` is the idempotency key
 * (a random UUID when absent): retrying with the same id never spends twice. `ok` only for code
 * `reset`; other codes (`already_redeemed`, `no_credit`, `nothing_to_reset`, `http_<status>`, …)
 * pass through. A network failure throws `AuthpoolError` `UPSTREAM_ERROR`; an abort rethrows.
 */
export async function consumeCodexResetCredit(
	request: CodexResetCreditsRequest & { creditId: string; redeemRequestId?: string },
): Promise<ResetCreditRedeemResult & { raw?: unknown }> {
	let response: Response;
	let text: string;
	try {
		response = await request.fetch(`${request.baseUrl}/wham/rate-limit-reset-credits/consume`, {
			method: "POST",
			headers: { ...codexHeaders(request.accessToken, request.accountId), "content-type": "application/json" },
			body: JSON.stringify({
				credit_id: request.creditId,
				redeem_request_id: request.redeemRequestId ?? randomUUID(),
			}),
			...(request.signal ? { signal: request.signal } : {}),
		});
		text = await response.text();
	} catch (error) {
		if (request.signal?.aborted) throw error;
		throw new AuthpoolError("UPSTREAM_ERROR", "openai-codex reset credit redeem failed: network error", {
			cause: error instanceof Error ? new Error(error.name) : undefined,
		});
	}
	let raw: unknown;
	try {
		raw = text ? JSON.parse(text) : undefined;
	} catch {
		raw = undefined;
	}
	const code =
		isRecord(raw) && typeof raw.code === "string" ? raw.code : response.ok ? "reset" : `http_${response.status}`;
	return { ok: code === "reset", code, status: response.status, ...(raw !== undefined ? { raw } : {}) };
}
