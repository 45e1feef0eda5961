/**
 * One benchmark process: warm up, print `ready`, wait for `go` on stdin (the parent's barrier, so every
 * process measures the same wall-clock window), hammer getApiKey on a shared SQLite file for N ms, print
 * the op count.
 */
import { AuthStorage, type ProviderPlugin } from "@authpool/core";
import { createSqliteStore } from "@authpool/store-sqlite";

const [path, durationArg] = process.argv.slice(2);
const plugin: ProviderPlugin = {
	id: "bench",
	oauth: {
		rotatesRefreshToken: true,
		refresh: async () => {
			throw new Error("no refresh expected");
		},
	},
};
const store = await createSqliteStore({ path: path! });
const storage = new AuthStorage(store, { providers: [plugin], env: {} });
await storage.reload();
const sessions = Array.from({ length: 64 }, (_, i) => `s-${process.pid}-${i}`);
for (const s of sessions) await storage.getApiKey("bench", s);
console.log("ready");
await new Promise<void>((resolve) => {
	process.stdin.on("data", (chunk) => {
		if (String(chunk).includes("go")) resolve();
	});
});
process.stdin.pause();
const end = performance.now() + Number(durationArg);
let ops = 0;
while (performance.now() < end) {
	for (let i = 0; i < 256; i += 1) await storage.getApiKey("bench", sessions[i % sessions.length]);
	ops += 256;
}
await storage.close();
await store.close();
console.log(ops);
