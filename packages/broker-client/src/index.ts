export { createRemoteStore, type RemoteCredentialStore, type RemoteStoreOptions } from "./remote-store";
