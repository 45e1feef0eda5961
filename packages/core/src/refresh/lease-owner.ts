/**
 * Refresh lease owner ids. The default owner names its host and process (`<host>:<pid>:<uuid>`), so a
 * waiter on the same host can tell a holder that stopped renewing because it died (take the lease over
 * after its ttl) from one that is only starved of CPU (keep waiting: its token request may be in flight,
 * and sending the same refresh token again would burn it). Other owner strings, and holders on other
 * hosts, are judged by their heartbeat alone.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

const OWNER = /^(?<host>.+):(?<pid>\d+):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A new owner id for this process: `<host>:<pid>:<uuid>`. */
export function defaultLeaseOwner(): string {
	return `${hostname()}:${process.pid}:${randomUUID()}`;
}

/**
 * `true` only when `owner` is a default owner id of a process on this host that still runs; `false` when
 * it names a process here that is gone (or a zombie); `undefined` when it cannot tell (another host, a
 * custom owner id, no process table).
 */
export function leaseOwnerAlive(owner: string): boolean | undefined {
	const match = OWNER.exec(owner);
	if (!match?.groups) return undefined;
	if (match.groups.host !== hostname()) return undefined;
	const pid = Number(match.groups.pid);
	if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
	try {
		process.kill(pid, 0);
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === "ESRCH") return false;
		// EPERM: the process exists but belongs to someone else. Anything else: cannot tell.
		return code === "EPERM" ? true : undefined;
	}
	return !isZombie(pid);
}

/** A killed process its parent has not reaped yet still answers signal 0 (Linux: state `Z` in /proc). */
function isZombie(pid: number): boolean {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		// `pid (comm) S ...`: comm may contain spaces and parentheses, the state follows the last `)`.
		return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
	} catch {
		return false;
	}
}
