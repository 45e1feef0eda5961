/** `keys rotate` / `keys migrate`: encryption at rest. */
import { rotateEncryptionKeys, sealPlaintextRows } from "@authpool/core";
import type { CommandContext } from "../context";
import { CliError, EXIT } from "../errors";
import { loadKeys, openPool } from "../pool";

export async function keysCommand(ctx: CommandContext, action: "rotate" | "migrate"): Promise<number> {
	const keys = await loadKeys(ctx.global, ctx.env);
	if (!keys) {
		throw new CliError(`keys ${action}: set AUTHPOOL_ENCRYPTION_KEYS (id:base64key,…) or pass --key-file`, EXIT.USAGE);
	}
	const pool = await openPool(ctx.global, ctx.env);
	try {
		const encrypted = pool.encrypted;
		if (!encrypted) throw new CliError("keys: the store was opened without encryption", EXIT.FAILURE);
		const pass = action === "rotate" ? rotateEncryptionKeys : sealPlaintextRows;
		const result = await pass(encrypted);
		const undecryptable = result.failed.length;
		if (ctx.out.json) ctx.out.data({ action, activeKeyId: keys.activeKeyId, ...result });
		else {
			const c = ctx.out.color;
			const verb = action === "rotate" ? "re-sealed" : "sealed";
			ctx.out.line(
				`${c.green("✓")} ${result.resealed} row(s) ${verb} under key "${keys.activeKeyId}", ${result.skipped} already current`,
			);
			if (undecryptable > 0)
				ctx.out.line(
					c.red(`✗ ${undecryptable} row(s) could not be opened with these keys: #${result.failed.join(", #")}`),
				);
			if (result.disabledPending.length > 0) {
				ctx.out.line(c.dim(`  ${result.disabledPending.length} removed row(s) keep their old sealing until purged`));
			}
		}
		return undecryptable > 0 ? EXIT.FAILURE : EXIT.OK;
	} finally {
		await pool.close();
	}
}
