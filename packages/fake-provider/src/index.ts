export { startFakeProvider } from "./fake-provider";
export type {
	FakeAccount,
	FakeAccountSpec,
	FakeCredential,
	FakeDeviceCode,
	FakeEndpoint,
	FakeFailure,
	FakeLatencyTarget,
	FakeProvider,
	FakeProviderId,
	FakeProviderOptions,
	FakeRequest,
	FakeUsagePatch,
	FakeUsageWindow,
	KnownFakeProviderId,
} from "./types";
