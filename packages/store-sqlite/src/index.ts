export type { CorruptRowReport } from "./credential-record";
export { createSqliteStore, type SqliteCredentialStore } from "./sqlite-credential-store";
export type { SqliteStoreOptions } from "./sqlite-store-options";
