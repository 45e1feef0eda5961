export type { PostgresChangeFeed } from "./change-feed";
export type { PostgresConnection, PostgresStoreOptions } from "./options";
export { createPostgresStore, LISTENER_APPLICATION_NAME, type PostgresCredentialStore } from "./postgres-store";
