/**
 * Preloaded by `bun test` for the Bun runs: `bun test` maps `import ... from "vitest"` to `bun:test`,
 * whose `vi` lacks `waitFor` (used by the conformance suite). This adds it with vitest's meaning:
 * retry the callback until it stops throwing, or rethrow its last error once `timeout` passed.
 */
import { vi } from "bun:test";

type WaitForOptions = number | { timeout?: number; interval?: number };

async function waitFor<T>(callback: () => T | Promise<T>, options: WaitForOptions = {}): Promise<T> {
	const { timeout = 1_000, interval = 50 } = typeof options === "number" ? { timeout: options } : options;
	const deadline = Date.now() + timeout;
	for (;;) {
		try {
			return await callback();
		} catch (error) {
			if (Date.now() >= deadline) throw error;
			await new Promise((resolve) => setTimeout(resolve, interval));
		}
	}
}

const target = vi as unknown as { waitFor?: typeof waitFor };
target.waitFor ??= waitFor;
