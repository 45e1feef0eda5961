/**
 * Two broker replicas over one Postgres schema (alone, and behind the Redis cache layer as a fleet runs
 * it), one client on each: one refresh per row, pushes reach both clients, and a broker killed (SIGKILL,
 * its own process) mid-stream leaves its client serving from the snapshot until it reconnects and converges.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { AuthCredentialStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { createPostgresStore } from "@authpool/store-postgres";
import { withRedisCache } from "@authpool/store-redis-cache";
import { dropPrefix, randomPrefix, testRedisUrl } from "@authpool/test-services";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
	ADMIN,
	type BrokerSide,
	CLIENT,
	type ClientSide,
	issuedRefreshTokens,
	startBrokerSide,
	startClient,
	until,
	upsertAccount,
} from "./support";

const connectionString = process.env.AUTHPOOL_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
if (!process.env.AUTHPOOL_TEST_POSTGRES_URL && process.env.CI) {
	throw new Error('AUTHPOOL_TEST_POSTGRES_URL is not set (run: eval "$(bash scripts/services.sh env)")');
}
const redisUrl = testRedisUrl();
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const SCRIPT = fileURLToPath(new URL("./broker-process.ts", import.meta.url));

async function kill(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return;
	const exited = new Promise((resolve) => child.once("exit", resolve));
	child.kill("SIGKILL");
	await exited;
}

describeReplicas("Postgres", false);
describeReplicas("Postgres behind the Redis cache", true);

function describeReplicas(name: string, redis: boolean) {
	describe(`two replicas over one store: ${name}`, () => {
		const schema = `authpool_broker_${randomBytes(6).toString("hex")}`;
		const redisPrefix = randomPrefix("broker-replicas");

		let fake: FakeProvider;
		/** Replica A: a child process (killed and restarted); replica B: in this process. */
		let a: { url: string; port: number; child: ChildProcess };
		let b: BrokerSide;
		let clientA: ClientSide;
		let clientB: ClientSide;
		const received: string[] = [];

		async function hasRow(c: ClientSide, id: number) {
			await c.storage.pollChanges();
			return c.storage.listStoredCredentials("anthropic").some((r) => r.id === id);
		}

		async function openStore(): Promise<AuthCredentialStore> {
			const durable = await createPostgresStore({ connectionString }, { schema, localPeers: false });
			return redis ? withRedisCache(durable, { url: redisUrl }, { prefix: redisPrefix }) : durable;
		}

		async function spawnBroker(port = 0): Promise<{ url: string; port: number; child: ChildProcess }> {
			const child = spawn(process.execPath, ["--conditions=@authpool/source", "--import", "tsx", SCRIPT], {
				cwd: ROOT,
				env: {
					...process.env,
					TEST_FAKE_ANTHROPIC_URL: fake.baseUrl("anthropic"),
					TEST_POSTGRES_URL: connectionString,
					TEST_SCHEMA: schema,
					...(redis ? { TEST_REDIS_URL: redisUrl, TEST_REDIS_PREFIX: redisPrefix } : {}),
					TEST_PORT: String(port),
					TEST_ADMIN_TOKEN: ADMIN,
					TEST_CLIENT_TOKEN: CLIENT,
				},
				stdio: ["ignore", "pipe", "pipe"],
			});
			let errors = "";
			child.stderr?.on("data", (chunk: Buffer) => {
				errors += chunk.toString();
				if (/store open attempt/.test(chunk.toString())) console.log(`broker process: ${chunk.toString().trim()}`);
			});
			const url = await new Promise<string>((resolve, reject) => {
				let out = "";
				const timer = setTimeout(
					() => reject(new Error(`broker process did not start: ${errors.slice(0, 500)}`)),
					20_000,
				);
				child.stdout?.on("data", (chunk: Buffer) => {
					out += chunk.toString();
					const match = /READY (\S+)/.exec(out);
					if (match) {
						clearTimeout(timer);
						resolve(match[1]!);
					}
				});
				child.once("exit", (code) => {
					clearTimeout(timer);
					reject(new Error(`broker process exited (${code}): ${errors.slice(0, 500)}`));
				});
			});
			return { url, port: Number(new URL(url).port), child };
		}

		beforeAll(async () => {
			fake = await startFakeProvider();
			b = await startBrokerSide(fake, await openStore());
			a = await spawnBroker();
			clientA = await startClient(fake, a.url, received);
			clientB = await startClient(fake, b.broker.url, received);
			await until(() => clientA.store.streaming && clientB.store.streaming, 5_000, "both streams connected");
		});

		afterAll(async () => {
			await clientA?.close();
			await clientB?.close();
			if (a) await kill(a.child);
			await b?.broker.close();
			await b?.storage.close();
			const tokens = issuedRefreshTokens(fake);
			await fake?.close();
			const admin = new pg.Client({ connectionString });
			await admin.connect();
			await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
			await admin.end();
			if (redis) await dropPrefix(redisUrl, redisPrefix);
			const everything = received.join("");
			for (const token of tokens) expect(everything.includes(token), "a refresh token reached a client").toBe(false);
		});

		it("a row both clients need refreshed is refreshed once; both serve the same new token", async () => {
			const account = fake.addAccount("anthropic", { email: "shared@example.com" });
			const id = await upsertAccount(a.url, { ...account.credential, expires: Date.now() + 1_000 });
			await until(async () => (await hasRow(clientA, id)) && (await hasRow(clientB, id)), 5_000, "row on both clients");
			const before = fake.refreshCount(account.id);
			const [keyA, keyB] = await Promise.all([
				clientA.storage.getApiKey("anthropic", "session-a"),
				clientB.storage.getApiKey("anthropic", "session-b"),
			]);
			expect(fake.refreshCount(account.id) - before).toBe(1);
			expect(keyA).toBe(fake.account(account.id)!.accessToken);
			expect(keyB).toBe(keyA);
		});

		it("a forced refresh on one replica right after the other rotated the row answers the new token (no re-mint)", async () => {
			const account = fake.addAccount("anthropic", { email: "cooldown@example.com" });
			const id = await upsertAccount(a.url, account.credential);
			const refresh = (url: string) =>
				fetch(`${url}/v1/credential/${id}/refresh`, { method: "POST", headers: { authorization: `Bearer ${CLIENT}` } });
			const accessOnB = async () => {
				await b.storage.pollChanges();
				const row = b.storage.listStoredCredentials("anthropic").find((r) => r.id === id);
				return row?.credential.type === "oauth" ? row.credential.access : undefined;
			};
			// Replica B serves the row before A rotates it (a row B never saw rotate is refreshed on request).
			await until(async () => (await accessOnB()) === account.accessToken);
			await new Promise((resolve) => setTimeout(resolve, 20));
			expect((await refresh(a.url)).status).toBe(200);
			const rotated = fake.account(account.id)!.accessToken;
			expect(fake.refreshCount(account.id)).toBe(1);
			// Replica B has seen the rotation through the store.
			await until(async () => (await accessOnB()) === rotated);
			await new Promise((resolve) => setTimeout(resolve, 20));
			const again = await refresh(b.broker.url);
			expect(again.status).toBe(200);
			expect(((await again.json()) as { entry: { credential: { access: string } } }).entry.credential.access).toBe(
				rotated,
			);
			expect(fake.refreshCount(account.id)).toBe(1);
		});

		it("a write through one replica is pushed to the clients of both", async () => {
			const account = fake.addAccount("anthropic", { email: "fanout@example.com" });
			const started = performance.now();
			const id = await upsertAccount(a.url, account.credential);
			const msA = await until(() => hasRow(clientA, id), 5_000, "push to client A");
			const msB = await until(() => hasRow(clientB, id), 5_000, "push to client B");
			console.log(
				`replica fan-out: client A after ${msA.toFixed(0)} ms, client B (other replica) after ${(performance.now() - started).toFixed(0)} ms (${msB.toFixed(0)} ms after A)`,
			);
			expect(clientB.counts.get("/v1/snapshot/stream")).toBeGreaterThanOrEqual(1);
		});

		it("a broker process SIGKILLed mid-stream: its client keeps serving, reconnects to the restarted one and converges", async () => {
			const served = fake.addAccount("anthropic", { email: "served@example.com" });
			const servedId = await upsertAccount(a.url, served.credential);
			await until(() => hasRow(clientA, servedId), 5_000, "row on client A");
			await kill(a.child);
			await until(() => !clientA.store.streaming, 5_000, "client A sees the stream drop");

			// Still serving from its snapshot while the broker is gone.
			const key = await clientA.storage.getApiKey("anthropic", "while-down");
			expect(typeof key).toBe("string");

			// A change committed through the surviving replica while A is down.
			const later = fake.addAccount("anthropic", { email: "later@example.com" });
			const laterId = await upsertAccount(b.broker.url, later.credential);
			await until(() => hasRow(clientB, laterId), 5_000, "client B sees the change");
			expect(await hasRow(clientA, laterId)).toBe(false);

			a = await spawnBroker(a.port);
			const ms = await until(() => hasRow(clientA, laterId), 10_000, "client A converges");
			console.log(`client A converged ${ms.toFixed(0)} ms after the broker came back`);
			await until(() => clientA.store.streaming, 5_000, "client A streams again");
		});
	});
}
