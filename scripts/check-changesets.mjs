#!/usr/bin/env node
// Fails when the pending changesets would publish a major (or any 1.x+) version: the packages are on
// the 0.x line, where a core minor must not force majors on stores and plugins.
// Usage: node scripts/check-changesets.mjs <changeset-status.json>
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
	console.error("usage: check-changesets.mjs <changeset status --output file>");
	process.exit(2);
}
const status = JSON.parse(readFileSync(file, "utf8"));
const releases = Array.isArray(status.releases) ? status.releases : [];
const bad = releases.filter((r) => r.type === "major" || Number.parseInt(String(r.newVersion), 10) >= 1);
for (const r of releases) console.log(`  ${r.name} ${r.oldVersion} -> ${r.newVersion} (${r.type})`);
if (bad.length > 0) {
	console.error(`changesets plan a major release: ${bad.map((r) => `${r.name}@${r.newVersion}`).join(", ")}`);
	process.exit(1);
}
console.log(`changesets: ${releases.length} pending release(s), no major`);
