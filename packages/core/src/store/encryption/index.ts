export {
	DEFAULT_SECRET_FIELDS,
	type EncryptedCredentialStore,
	type EncryptionControl,
	type EncryptionOptions,
	pluginSecretFields,
	type UndecryptableRowReport,
	withEncryption,
} from "./encrypted-store";
export { type EncryptionKeys, loadEncryptionKeyFile, parseEncryptionKeys } from "./keys";
export {
	type RotateEncryptionOptions,
	type RotateEncryptionResult,
	rotateEncryptionKeys,
	sealPlaintextRows,
} from "./rotate";
export { SEALED_PREFIX } from "./seal";
export { readSealedFile, type SealedFileFailure, type SealedFileKeys, writeSealedFile } from "./sealed-file";
