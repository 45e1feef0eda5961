import { type AuthpoolError, silentLogger, systemClock } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { type AnyKysely, isTransientPgError, PgContext } from "./pg-context";

// The retry loop never touches the database handle itself; `fn` stands in for a statement.
const ctx = (deadlineMs: number) => new PgContext({} as AnyKysely, "authpool", systemClock, silentLogger, deadlineMs);
const pgError = (code: string, extra: Record<string, unknown> = {}) =>
	Object.assign(new Error(`server says ${code}`), { code, ...extra });

describe("transient error classification and retry", () => {
	it("classifies connection-class errors as transient and others not", () => {
		for (const code of ["57P01", "08006", "08001", "ECONNREFUSED", "ECONNRESET", "40001"]) {
			expect(isTransientPgError(pgError(code)), code).toBe(true);
		}
		expect(isTransientPgError(new Error("Connection terminated unexpectedly"))).toBe(true);
		for (const code of ["23505", "42P01", "22P02"]) expect(isTransientPgError(pgError(code)), code).toBe(false);
		expect(isTransientPgError("nope")).toBe(false);
	});

	it("retries a transient error until the operation succeeds", async () => {
		let calls = 0;
		const value = await ctx(5_000).withRetry("probe", async () => {
			calls++;
			if (calls < 3) throw pgError("57P01", { severity: "FATAL" });
			return "ok";
		});
		expect(value).toBe("ok");
		expect(calls).toBe(3);
	});

	it("fails a non-transient error at once, and a transient one after the deadline, as STORE_ERROR", async () => {
		let calls = 0;
		const fatal = await ctx(5_000)
			.withRetry("probe", async () => {
				calls++;
				throw pgError("22P02", { severity: "ERROR", message: 'invalid input syntax: "test-secret-1"' });
			})
			.catch((caught: unknown) => caught as AuthpoolError);
		expect(calls).toBe(1);
		expect(fatal.code).toBe("STORE_ERROR");
		expect(fatal.message).toContain("SQLSTATE 22P02");
		expect(fatal.message).not.toContain("test-secret-1");

		const started = Date.now();
		const refused = await ctx(200)
			.withRetry("probe", async () => {
				throw pgError("ECONNREFUSED");
			})
			.catch((caught: unknown) => caught as AuthpoolError);
		expect(refused.code).toBe("STORE_ERROR");
		expect(Date.now() - started).toBeLessThan(2_000);
	});
});

describe("write retries", () => {
	it("a connection lost during COMMIT is reported, not retried (the outcome is unknown)", async () => {
		let attempts = 0;
		const fakeDb = {
			transaction: () => ({
				execute: async (body: (trx: unknown) => Promise<unknown>) => {
					attempts++;
					await body({ executeQuery: async () => ({ rows: [{ revision: "1" }] }) });
					throw pgError("57P01", { severity: "FATAL" });
				},
			}),
		} as unknown as AnyKysely;
		const store = new PgContext(fakeDb, "authpool", systemClock, silentLogger, 5_000);
		const error = (await store.write("insert", async () => "row").catch((caught: unknown) => caught)) as AuthpoolError;
		expect(error.code).toBe("STORE_ERROR");
		expect(attempts).toBe(1);
	});

	it("a connection lost before COMMIT is retried", async () => {
		let attempts = 0;
		const fakeDb = {
			transaction: () => ({
				execute: async (body: (trx: unknown) => Promise<unknown>) => {
					attempts++;
					if (attempts === 1) throw pgError("ECONNREFUSED");
					return body({ executeQuery: async () => ({ rows: [{ revision: "7" }] }) });
				},
			}),
		} as unknown as AnyKysely;
		const store = new PgContext(fakeDb, "authpool", systemClock, silentLogger, 5_000);
		let seen = 0;
		store.afterWrite = (revision) => {
			seen = revision;
		};
		expect(await store.write("insert", async () => "row")).toBe("row");
		expect(attempts).toBe(2);
		expect(seen).toBe(7);
	});
});
