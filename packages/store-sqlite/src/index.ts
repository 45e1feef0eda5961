export type { CorruptRowReport } from "./credential-record";
export { createSqliteStore, type SqliteCredentialStore } from "./sqlite-credential-store";
export type {
	BetterSqlite3DatabaseLike,
	BunSqliteDatabaseLike,
	SqliteDatabaseLike,
	SqliteStoreOptions,
} from "./sqlite-store-options";
