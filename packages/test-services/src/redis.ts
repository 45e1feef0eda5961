/**
 * Test helpers: the server URL (from `AUTHPOOL_TEST_REDIS_URL`, see scripts/services.sh), throwaway
 * key prefixes, and a private redis-server a test may kill and restart. Under CI a missing URL fails
 * the file instead of silently skipping it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { Redis } from "ioredis";

const DEFAULT_URL = "redis://127.0.0.1:6379";

/** The shared test server URL; throws under CI when it is not configured. */
export function testRedisUrl(): string {
	const url = process.env.AUTHPOOL_TEST_REDIS_URL;
	if (url) return url;
	if (process.env.CI) {
		throw new Error('AUTHPOOL_TEST_REDIS_URL is not set (run: eval "$(bash scripts/services.sh env)")');
	}
	return DEFAULT_URL;
}

/** A fresh key prefix for one test. */
export function randomPrefix(tag = "t"): string {
	return `authpool-test:${tag}:${randomBytes(6).toString("hex")}:`;
}

/** Every key under `prefix` with its value rendered as text (strings, hashes, sorted sets). */
export async function dumpPrefix(url: string, prefix: string): Promise<Map<string, string>> {
	const redis = new Redis(url, { maxRetriesPerRequest: 1 });
	try {
		const out = new Map<string, string>();
		let cursor = "0";
		do {
			const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
			cursor = next;
			for (const key of found) {
				const type = await redis.type(key);
				if (type === "string") out.set(key, (await redis.get(key)) ?? "");
				else if (type === "hash") out.set(key, JSON.stringify(await redis.hgetall(key)));
				else if (type === "zset") out.set(key, JSON.stringify(await redis.zrange(key, 0, -1, "WITHSCORES")));
				else out.set(key, `<${type}>`);
			}
		} while (cursor !== "0");
		return out;
	} finally {
		redis.disconnect();
	}
}

/** Delete every key under `prefix`. */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
	const redis = new Redis(url, { maxRetriesPerRequest: 1 });
	try {
		let cursor = "0";
		do {
			const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
			cursor = next;
			if (found.length > 0) await redis.del(...found);
		} while (cursor !== "0");
	} finally {
		redis.disconnect();
	}
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			const port = typeof address === "object" && address ? address.port : 0;
			server.close(() => resolve(port));
		});
	});
}

/** A private redis-server (no persistence) this test owns: it may stop and start it at will. */
export interface ThrowawayRedis {
	readonly url: string;
	readonly port: number;
	/** SIGKILL the server (only this one) and wait for it to exit. */
	kill(): Promise<void>;
	/** Start it again on the same port (empty: it keeps nothing). */
	start(): Promise<void>;
}

export async function startThrowawayRedis(): Promise<ThrowawayRedis> {
	const port = await freePort();
	const url = `redis://127.0.0.1:${port}`;
	let child: ChildProcess | undefined;
	const start = async () => {
		child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
			stdio: "ignore",
		});
		// Never outlive the test process, even when it dies without running its afterAll.
		const started = child;
		process.once("exit", () => started.kill("SIGKILL"));
		const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
		probe.on("error", () => undefined);
		const deadline = Date.now() + 10_000;
		for (;;) {
			try {
				await probe.connect();
				await probe.ping();
				probe.disconnect();
				return;
			} catch {
				probe.disconnect();
				if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
				await new Promise((resolve) => setTimeout(resolve, 50));
			}
		}
	};
	await start();
	return {
		url,
		port,
		async kill() {
			const running = child;
			if (!running || running.exitCode !== null || running.signalCode !== null) return;
			const exited = new Promise((resolve) => running.once("exit", resolve));
			running.kill("SIGKILL");
			await exited;
		},
		start,
	};
}
