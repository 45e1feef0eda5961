import { isIP } from "node:net";
import { AuthpoolError } from "@authpool/core";

export interface BindAddress {
	host: string;
	port: number;
}

/**
 * Parse `host:port`, `[v6]:port` or `:port` (loopback). Port 0 picks a free port.
 * @throws AuthpoolError `INVALID_OPTIONS` on anything else.
 */
export function parseBind(bind: string): BindAddress {
	const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(bind.trim());
	const port = match ? Number(match[3]) : Number.NaN;
	if (!match || !Number.isInteger(port) || port > 65_535) {
		throw new AuthpoolError("INVALID_OPTIONS", "bind must be host:port, [ipv6]:port or :port (port 0-65535)");
	}
	const host = match[1] ?? (match[2] || "127.0.0.1");
	return { host, port };
}

/** Loopback only: 127.0.0.0/8, ::1 and localhost. `0.0.0.0` / `::` are every interface. */
export function isLoopbackHost(host: string): boolean {
	if (host === "localhost" || host === "::1") return true;
	return isIP(host) === 4 && host.startsWith("127.");
}
