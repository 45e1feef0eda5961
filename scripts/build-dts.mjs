#!/usr/bin/env node
// Declarations for every public entry point, built once: `tsc -b` (the typecheck) already emits each
// package's declarations into .tsbuild/; this rolls them up into dist/ per entry of the package's
// `exports` map, so a consumer sees one self-contained file per entry (no extensionless relative imports,
// nothing of the source tree). Run after `tsc -b`; `pnpm build` does both.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { rollup } from "rollup";
import { dts } from "rollup-plugin-dts";

const root = new URL("..", import.meta.url).pathname;

function packagesWithTypes() {
	const out = [];
	for (const group of ["packages", "apps"]) {
		const base = join(root, group);
		if (!existsSync(base)) continue;
		for (const name of readdirSync(base)) {
			const dir = join(base, name);
			const manifest = join(dir, "package.json");
			if (!existsSync(manifest)) continue;
			const pkg = JSON.parse(readFileSync(manifest, "utf8"));
			const entries = {};
			for (const target of Object.values(pkg.exports ?? {})) {
				const types = typeof target === "object" && target !== null ? target.types : undefined;
				if (typeof types !== "string" || !types.startsWith("./dist/") || !types.endsWith(".d.ts")) continue;
				const entry = types.slice("./dist/".length, -".d.ts".length);
				entries[entry] = join(dir, ".tsbuild", "src", `${entry}.d.ts`);
			}
			if (Object.keys(entries).length > 0) out.push({ dir, name: pkg.name, entries });
		}
	}
	return out;
}

const started = performance.now();
const failures = [];
const work = packagesWithTypes();
await Promise.all(
	work.map(async ({ dir, name, entries }) => {
		const missing = Object.values(entries).filter((file) => !existsSync(file));
		if (missing.length > 0) {
			failures.push(
				`${name}: ${missing.map((file) => relative(root, file)).join(", ")} missing (run \`tsc -b\` first)`,
			);
			return;
		}
		try {
			const bundle = await rollup({
				input: entries,
				// Every bare import (other packages, node builtins) stays an import.
				external: (id) => !id.startsWith(".") && !id.startsWith("/"),
				plugins: [dts({ respectExternal: false })],
				onwarn: (warning, warn) => {
					if (warning.code !== "CIRCULAR_DEPENDENCY") warn(warning);
				},
			});
			await bundle.write({
				dir: join(dir, "dist"),
				format: "es",
				entryFileNames: "[name].d.ts",
				// A shared chunk is named after its first module (`types.d.ts` → `types-<hash>.d.ts`).
				chunkFileNames: (chunk) => `${chunk.name.replace(/\.d$/, "")}-[hash].d.ts`,
			});
			await bundle.close();
		} catch (error) {
			failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
		}
	}),
);
if (failures.length > 0) {
	console.error(`build-dts: failed\n${failures.join("\n")}`);
	process.exit(1);
}
console.log(`build-dts: ${work.length} packages in ${((performance.now() - started) / 1000).toFixed(1)} s`);
