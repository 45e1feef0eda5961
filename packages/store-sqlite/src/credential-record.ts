/**
 * Mapping between `auth_credentials` records and `StoredAuthCredential`, with corrupt-row handling:
 * a record whose JSON does not parse (or is not a credential) is skipped, never thrown.
 */
import type { AuthCredential, Logger, StoredAuthCredential } from "@authpool/core";
import type { CredentialRecord } from "./schema";

/** A row the store cannot read, as reported by `listCorruptRows()`. Never carries the data itself. */
export interface CorruptRowReport {
	id: number;
	provider: string;
	/** `true` for an active row (it is invisible to the pool until fixed or disabled). */
	active: boolean;
	reason: string;
	updatedAt: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why `data` is not a usable credential, or the credential. */
export function parseCredentialData(data: string): { credential: AuthCredential } | { reason: string } {
	let value: unknown;
	try {
		value = JSON.parse(data);
	} catch {
		return { reason: "data is not valid JSON" };
	}
	if (!isRecord(value)) return { reason: "data is not a JSON object" };
	if (value.type === "api_key") {
		return typeof value.key === "string" ? { credential: value as AuthCredential } : { reason: "api_key without key" };
	}
	if (value.type === "oauth") {
		if (typeof value.access !== "string" || typeof value.refresh !== "string") {
			return { reason: "oauth credential without access/refresh" };
		}
		if (typeof value.expires !== "number" || !Number.isFinite(value.expires)) {
			return { reason: "oauth credential without numeric expires" };
		}
		return { credential: value as AuthCredential };
	}
	return { reason: "unknown credential type" };
}

/**
 * Decodes records and warns once per corrupt (id, version) so a reload loop does not flood the log.
 */
export class CredentialDecoder {
	readonly #logger: Logger;
	readonly #warned = new Map<number, number>();

	constructor(logger: Logger) {
		this.#logger = logger;
	}

	decode(record: CredentialRecord): StoredAuthCredential | null {
		const parsed = parseCredentialData(record.data);
		if ("reason" in parsed) {
			if (this.#warned.get(record.id) !== record.version) {
				this.#warned.set(record.id, record.version);
				this.#logger.warn("skipping unreadable credential row", {
					id: record.id,
					provider: record.provider,
					reason: parsed.reason,
				});
			}
			return null;
		}
		return {
			id: record.id,
			provider: record.provider,
			credential: parsed.credential,
			disabledCause: record.disabled_cause,
			version: record.version,
			identityKey: record.identity_key,
			createdAt: record.created_at,
			updatedAt: record.updated_at,
			disabledAt: record.disabled_at,
		};
	}

	decodeAll(records: CredentialRecord[]): StoredAuthCredential[] {
		const rows: StoredAuthCredential[] = [];
		for (const record of records) {
			const row = this.decode(record);
			if (row) rows.push(row);
		}
		return rows;
	}
}

/** Corrupt-row report for a record, or `null` when it reads fine. */
export function corruptReport(record: CredentialRecord): CorruptRowReport | null {
	const parsed = parseCredentialData(record.data);
	if (!("reason" in parsed)) return null;
	return {
		id: record.id,
		provider: record.provider,
		active: record.disabled_cause === null,
		reason: parsed.reason,
		updatedAt: record.updated_at,
	};
}
