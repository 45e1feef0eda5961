import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { defaultLeaseOwner, leaseOwnerAlive } from "./lease-owner";

describe("lease owner liveness", () => {
	it("the default owner names this host and process, and this process is alive", () => {
		const owner = defaultLeaseOwner();
		expect(owner.startsWith(`${hostname()}:${process.pid}:`)).toBe(true);
		expect(defaultLeaseOwner()).not.toBe(owner);
		expect(leaseOwnerAlive(owner)).toBe(true);
	});

	it("a process on this host that exited (and was reaped) is dead", async () => {
		const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
		const pid = child.pid!;
		await new Promise((resolve) => child.once("exit", resolve));
		expect(leaseOwnerAlive(`${hostname()}:${pid}:${randomUUID()}`)).toBe(false);
	});

	it("a killed child its parent has not reaped yet (a zombie) is dead", async () => {
		const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
		const pid = child.pid!;
		const owner = `${hostname()}:${pid}:${randomUUID()}`;
		await new Promise((resolve) => setTimeout(resolve, 100));
		expect(leaseOwnerAlive(owner)).toBe(true);
		const exited = new Promise((resolve) => child.once("exit", resolve));
		child.kill("SIGKILL");
		await exited;
		expect(leaseOwnerAlive(owner)).toBe(false);
	});

	it("cannot tell for another host or a custom owner id", () => {
		expect(leaseOwnerAlive(`not-${hostname()}:${process.pid}:${randomUUID()}`)).toBeUndefined();
		expect(leaseOwnerAlive("owner-a")).toBeUndefined();
		expect(leaseOwnerAlive(`${hostname()}:${process.pid}:not-a-uuid`)).toBeUndefined();
	});
});
