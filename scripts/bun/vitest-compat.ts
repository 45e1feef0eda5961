/**
 * Preloaded by every `bun test` run of the repo's vitest suites (`bun test --preload`). `bun test`
 * maps `import ... from "vitest"` to `bun:test`, which lacks two helpers the suites use; they are
 * added here with vitest's meaning:
 * - `vi.waitFor(callback, timeout | { timeout, interval })`: retry until the callback stops throwing.
 * - `expect.poll(fn, { timeout, interval }).<matcher>(...)`: retry the matcher on fresh values of `fn`.
 * Both rethrow the last failure once the timeout passed (vitest's defaults: 1 s, every 50 ms).
 */
import { expect, vi } from "bun:test";

type PollOptions = number | { timeout?: number; interval?: number };

function pollSettings(options: PollOptions | undefined): { timeout: number; interval: number } {
	const given = typeof options === "number" ? { timeout: options } : (options ?? {});
	return { timeout: given.timeout ?? 1_000, interval: given.interval ?? 50 };
}

async function retry<T>(attempt: () => T | Promise<T>, options: PollOptions | undefined): Promise<T> {
	const { timeout, interval } = pollSettings(options);
	const deadline = Date.now() + timeout;
	for (;;) {
		try {
			return await attempt();
		} catch (error) {
			if (Date.now() >= deadline) throw error;
			await new Promise((resolve) => setTimeout(resolve, interval));
		}
	}
}

const viTarget = vi as unknown as { waitFor?: unknown };
viTarget.waitFor ??= <T>(callback: () => T | Promise<T>, options?: PollOptions) => retry(callback, options);

type Matchers = Record<string, (...args: unknown[]) => unknown>;
const expectTarget = expect as unknown as { poll?: unknown } & ((value: unknown) => Matchers);
expectTarget.poll ??= (read: () => unknown, options?: PollOptions) =>
	new Proxy(
		{},
		{
			get:
				(_target, matcher: string) =>
				(...args: unknown[]) =>
					retry(async () => {
						const matchers = expectTarget(await read());
						const check = matchers[matcher];
						if (typeof check !== "function") throw new TypeError(`expect.poll: no matcher ${matcher}`);
						return check.apply(matchers, args);
					}, options),
		},
	);
