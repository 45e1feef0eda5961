/**
 * What every part of the PostgreSQL store shares: the Kysely handle, the schema-qualified table
 * names, clock, logger, closed flag, and the two ways to talk to the server (a statement, or a
 * transaction), both retried on transient connection errors within a bounded deadline.
 */
import { AuthpoolError, type Clock, type Logger } from "@authpool/core";
import { CompiledQuery, type Kysely, type Transaction } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: queries are raw SQL against the store's own schema.
export type AnyKysely = Kysely<any>;
// biome-ignore lint/suspicious/noExplicitAny: as above.
export type Executor = Kysely<any> | Transaction<any>;

/** SQLSTATEs and socket errors that go away when the server (or the network) comes back. */
export function isTransientPgError(error: unknown): boolean {
	if (typeof error !== "object" || error === null) return false;
	const code = (error as { code?: unknown }).code;
	if (typeof code === "string") {
		if (code.startsWith("08")) return true;
		if (["57P01", "57P02", "57P03", "40001", "40P01", "53300"].includes(code)) return true;
		if (["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND"].includes(code)) {
			return true;
		}
	}
	const message = (error as { message?: unknown }).message;
	return (
		typeof message === "string" &&
		/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
			message,
		)
	);
}

export function delay(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

export class PgContext {
	readonly db: AnyKysely;
	readonly schema: string;
	readonly clock: Clock;
	readonly logger: Logger;
	readonly retryDeadlineMs: number;
	#closed = false;
	/** Called with the revision a local write transaction ended at (the change feed). */
	afterWrite: (revision: number) => void = () => {};

	constructor(db: AnyKysely, schema: string, clock: Clock, logger: Logger, retryDeadlineMs: number) {
		this.db = db;
		this.schema = schema;
		this.clock = clock;
		this.logger = logger;
		this.retryDeadlineMs = retryDeadlineMs;
	}

	get closed(): boolean {
		return this.#closed;
	}

	markClosed(): void {
		this.#closed = true;
	}

	now(): number {
		return this.clock.now();
	}

	/** Schema-qualified table name (the schema is a validated identifier). */
	t(table: string): string {
		return `"${this.schema}".${table}`;
	}

	assertOpen(operation: string): void {
		if (this.#closed) {
			throw new AuthpoolError(
				"STORE_CLOSED",
				`PostgreSQL credential store (schema ${this.schema}) is closed (${operation})`,
			);
		}
	}

	/**
	 * Wrap a driver error. A server error contributes only its SQLSTATE and the names of the
	 * constraint/table/column it reports: server messages can quote a value (`invalid input syntax
	 * for type bigint: "..."`). Socket errors name host and port only. The original stays in `cause`.
	 */
	fail(operation: string, error: unknown): AuthpoolError {
		if (AuthpoolError.isInstance(error)) return error;
		const e = (typeof error === "object" && error !== null ? error : {}) as Record<string, unknown>;
		const code = typeof e.code === "string" ? e.code : undefined;
		const fromServer = typeof e.severity === "string";
		const names = ["constraint", "table", "column"]
			.filter((key) => typeof e[key] === "string")
			.map((key) => `${key} ${String(e[key])}`);
		const reason = fromServer
			? `SQLSTATE ${code ?? "unknown"}${names.length > 0 ? ` (${names.join(", ")})` : ""}`
			: error instanceof Error
				? error.message
				: "unknown error";
		return new AuthpoolError("STORE_ERROR", `PostgreSQL credential store ${operation} failed: ${reason}`, {
			cause: error,
			details: { schema: this.schema, operation, ...(code ? { code } : {}) },
		});
	}

	async query<R>(executor: Executor, text: string, params: readonly unknown[] = []): Promise<R[]> {
		const result = await executor.executeQuery<R>(CompiledQuery.raw(text, [...params]));
		return result.rows;
	}

	/** Rows affected by a write statement. */
	async exec(executor: Executor, text: string, params: readonly unknown[] = []): Promise<number> {
		const result = await executor.executeQuery(CompiledQuery.raw(text, [...params]));
		return Number(result.numAffectedRows ?? 0n);
	}

	/** A single read statement, retried on transient errors. */
	async read<T>(operation: string, fn: (db: Executor) => Promise<T>): Promise<T> {
		return this.withRetry(operation, () => fn(this.db));
	}

	/**
	 * `fn` in one transaction; the revision it ended at is read before commit and handed to the change
	 * feed, so this store's `revision()` has moved by the time the write resolves.
	 */
	async write<T>(operation: string, fn: (trx: Executor) => Promise<T>): Promise<T> {
		let committing = false;
		const { value, revision } = await this.withRetry(
			operation,
			() => {
				committing = false;
				return this.db.transaction().execute(async (trx) => {
					const value = await fn(trx);
					const [row] = await this.query<{ revision: string }>(
						trx,
						`SELECT revision FROM ${this.t("auth_change_revision")} WHERE id = 1`,
					);
					committing = true;
					return { value, revision: Number(row?.revision ?? 0) };
				});
			},
			// A connection lost during COMMIT leaves the outcome unknown: running the write again could
			// apply it twice (a second insert), so that one failure is reported, not retried.
			() => !committing,
		);
		this.afterWrite(revision);
		return value;
	}

	async withRetry<T>(operation: string, fn: () => Promise<T>, mayRetry: () => boolean = () => true): Promise<T> {
		const deadline = Date.now() + this.retryDeadlineMs;
		for (let attempt = 0; ; attempt++) {
			this.assertOpen(operation);
			try {
				return await fn();
			} catch (error) {
				if (this.#closed) throw this.fail(operation, error);
				const wait = Math.min(25 * 2 ** attempt, 1000);
				if (!isTransientPgError(error) || !mayRetry() || Date.now() + wait > deadline) {
					throw this.fail(operation, error);
				}
				this.logger.debug("postgres store: transient error, retrying", {
					operation,
					attempt: attempt + 1,
					code: (error as { code?: unknown }).code,
				});
				await delay(wait);
			}
		}
	}
}
