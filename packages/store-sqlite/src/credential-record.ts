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

/** The columns of a credential record, in the order `decodeValues` reads them. */
export const RECORD_COLUMNS =
	"id, provider, credential_type, data, identity_key, version, disabled_cause, created_at, updated_at, disabled_at";

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
		return this.#decode(
			record.id,
			record.provider,
			record.data,
			record.identity_key,
			record.version,
			record.disabled_cause,
			record.created_at,
			record.updated_at,
			record.disabled_at,
		);
	}

	/**
	 * Rows read as arrays (a raw statement selecting `RECORD_COLUMNS`, in that order): no object per
	 * record, which is most of a large reload's cost after the read itself.
	 */
	decodeValues(rows: unknown[][]): StoredAuthCredential[] {
		const out: StoredAuthCredential[] = [];
		for (const v of rows) {
			const row = this.#decode(
				v[0] as number,
				v[1] as string,
				v[3] as string,
				v[4] as string | null,
				v[5] as number,
				v[6] as string | null,
				v[7] as number,
				v[8] as number,
				v[9] as number | null,
			);
			if (row) out.push(row);
		}
		return out;
	}

	#decode(
		id: number,
		provider: string,
		data: string,
		identityKey: string | null,
		version: number,
		disabledCause: string | null,
		createdAt: number,
		updatedAt: number,
		disabledAt: number | null,
	): StoredAuthCredential | null {
		const parsed = parseCredentialData(data);
		if ("reason" in parsed) {
			if (this.#warned.get(id) !== version) {
				this.#warned.set(id, version);
				this.#logger.warn("skipping unreadable credential row", { id, provider, reason: parsed.reason });
			}
			return null;
		}
		return {
			id,
			provider,
			credential: parsed.credential,
			disabledCause,
			version,
			identityKey,
			createdAt,
			updatedAt,
			disabledAt,
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
