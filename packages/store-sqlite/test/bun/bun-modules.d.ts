/**
 * The few `bun:*` declarations the Bun-run test files use, so `tsc -b` checks them on Node without
 * the full Bun type package.
 */
declare module "bun:sqlite" {
	export class Database {
		constructor(filename: string, options?: { create?: boolean; readwrite?: boolean; strict?: boolean });
		readonly filename: string;
		readonly inTransaction: boolean;
		prepare(sql: string): unknown;
		query(sql: string): { get(...params: unknown[]): unknown };
		exec(sql: string): unknown;
		transaction(fn: (...args: never[]) => unknown): unknown;
		close(throwOnError?: boolean): void;
	}
}

declare module "bun:test" {
	export const vi: object;
}
