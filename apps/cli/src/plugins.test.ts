import { describe, expect, it } from "vitest";
import { BUILTIN_PROVIDER_IDS } from "./plugins";
import { builtinPlugins, fakeProviderPlugins } from "./plugins-load";

describe("built-in plugins", () => {
	it("the static id list (used to validate arguments without loading plugins) matches the loaded plugins", () => {
		expect(builtinPlugins({}).map((p) => p.id)).toEqual([...BUILTIN_PROVIDER_IDS]);
		expect(fakeProviderPlugins("http://127.0.0.1:1").map((p) => p.id)).toEqual([...BUILTIN_PROVIDER_IDS]);
	});
});
