export { startFakeProvider } from "./fake-provider";
export { createManualClock, type ManualClock } from "./manual-clock";
export { jsonResponse, type ScriptedCall, type ScriptStep, scriptedFetch } from "./scripted-fetch";
export type {
	FakeAccount,
	FakeAccountSpec,
	FakeCredential,
	FakeDeviceCode,
	FakeEndpoint,
	FakeFailure,
	FakeFaultMode,
	FakeLatencyTarget,
	FakeProvider,
	FakeProviderId,
	FakeProviderOptions,
	FakeRequest,
	FakeUsagePatch,
	FakeUsageWindow,
	KnownFakeProviderId,
} from "./types";
