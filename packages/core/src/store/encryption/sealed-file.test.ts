import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuthpoolError } from "../../errors";
import { readSealedFile, type SealedFileKeys, writeSealedFile } from "./sealed-file";

// Obviously fake keys: constant bytes.
const OLD = Buffer.alloc(32, 0x11);
const NEW = Buffer.alloc(32, 0x22);
const SECRET = "test-refresh-token-in-a-file";

let dir: string;
beforeEach(async () => {
	dir = await mkdtemp(join(tmpdir(), "authpool-sealed-file-"));
});
afterEach(async () => {
	await rm(dir, { recursive: true, force: true });
});

describe("sealed files", () => {
	it("round-trip, 0600, no plaintext on disk, no temporary file left", async () => {
		const path = join(dir, "cache.bin");
		await writeSealedFile(path, JSON.stringify({ token: SECRET }), "test-context", {
			keys: new Map([["k1", NEW]]),
			activeKeyId: "k1",
		});
		const bytes = await readFile(path);
		expect(bytes.toString("latin1")).not.toContain(SECRET);
		expect((await stat(path)).mode & 0o777).toBe(0o600);
		expect(await readdir(dir)).toEqual(["cache.bin"]);
		const read = await readSealedFile(path, "test-context", { keys: { k1: NEW }, activeKeyId: "k1" });
		expect(read.ok && JSON.parse(read.plaintext.toString("utf8"))).toEqual({ token: SECRET });
		expect(read.ok && read.keyId).toBe("k1");
	});

	it("opens under any key of the ring; the next write moves it to the active key", async () => {
		const path = join(dir, "cache.bin");
		await writeSealedFile(path, SECRET, "ctx", { keys: { old: OLD }, activeKeyId: "old" });
		const ring = { keys: { old: OLD, new: NEW }, activeKeyId: "new" };
		const before = await readSealedFile(path, "ctx", ring);
		expect(before.ok && before.keyId).toBe("old");
		await writeSealedFile(path, SECRET, "ctx", ring);
		const after = await readSealedFile(path, "ctx", { keys: { new: NEW }, activeKeyId: "new" });
		expect(after.ok && after.plaintext.toString()).toBe(SECRET);
		expect(await readSealedFile(path, "ctx", { keys: { old: OLD }, activeKeyId: "old" })).toEqual({
			ok: false,
			reason: "unknown-key",
		});
	});

	it("every flipped byte, a truncation, another context or a wrong key never opens", async () => {
		const path = join(dir, "cache.bin");
		const keys = { keys: { k1: NEW }, activeKeyId: "k1" };
		await writeSealedFile(path, SECRET, "ctx", keys);
		const good = await readFile(path);
		const reasons = new Set<string>();
		for (let at = 0; at < good.length; at++) {
			const bad = Buffer.from(good);
			bad[at]! ^= 0x01;
			await writeFile(path, bad);
			const read = await readSealedFile(path, "ctx", keys);
			expect(read.ok, `byte ${at}`).toBe(false);
			if (!read.ok) reasons.add(read.reason);
		}
		expect([...reasons].sort()).toEqual(["not-sealed", "tampered", "unknown-key"]);
		await writeFile(path, good.subarray(0, good.length - 1));
		expect(await readSealedFile(path, "ctx", keys)).toEqual({ ok: false, reason: "tampered" });
		await writeFile(path, good);
		expect(await readSealedFile(path, "other", keys)).toEqual({ ok: false, reason: "tampered" });
		expect(await readSealedFile(path, "ctx", { keys: { k1: OLD }, activeKeyId: "k1" })).toEqual({
			ok: false,
			reason: "tampered",
		});
		expect(await readSealedFile(join(dir, "absent"), "ctx", keys)).toEqual({ ok: false, reason: "missing" });
		await writeFile(path, SECRET);
		expect(await readSealedFile(path, "ctx", keys)).toEqual({ ok: false, reason: "not-sealed" });
	});

	it("bad keys are typed errors naming no key material; a failed write leaves the old file", async () => {
		const path = join(dir, "cache.bin");
		const keys = { keys: { k1: NEW }, activeKeyId: "k1" };
		await writeSealedFile(path, "old contents", "ctx", keys);
		const bads: SealedFileKeys[] = [
			{ keys: { k1: Buffer.alloc(16) }, activeKeyId: "k1" },
			{ keys: { "k:1": NEW }, activeKeyId: "k:1" },
			{ keys: { k1: NEW }, activeKeyId: "k2" },
		];
		for (const bad of bads) {
			const error = await writeSealedFile(path, "new", "ctx", bad).catch((e: unknown) => e);
			expect(AuthpoolError.isInstance(error) && error.code).toBe("INVALID_OPTIONS");
			expect(String((error as Error).message)).not.toContain(NEW.toString("base64"));
		}
		await expect(writeSealedFile(join(dir, "no-such-dir", "x"), "new", "ctx", keys)).rejects.toMatchObject({
			code: "ENOENT",
		});
		const read = await readSealedFile(path, "ctx", keys);
		expect(read.ok && read.plaintext.toString()).toBe("old contents");
		expect((await readdir(dir)).sort()).toEqual(["cache.bin"]);
	});
});
