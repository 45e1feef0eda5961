#!/usr/bin/env bash
# Consumer test: what a user installs from npm must work outside the monorepo. Packs every public
# package (as `pnpm publish` would: catalog and workspace ranges resolved), installs the tarballs
# with npm into a scratch project outside the repo, type-checks scripts/consumer/consumer.ts with
# strict TypeScript under `nodenext` and `bundler` resolution, and runs the README's quick start,
# comparing its output with the README's. Builds nothing: run `pnpm build` first (test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# pnpm.sh checks pnpm's version on every call (one more Node start); packing 14 packages, check once.
if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version 2>/dev/null)" = "9.15.9" ]; then
	PNPM=(pnpm)
else
	PNPM=(bash "$root/scripts/pnpm.sh")
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/authpool-consumer-XXXXXX")
if [ "${AUTHPOOL_KEEP_CONSUMER:-}" = "1" ]; then
	echo "consumer: scratch project kept in $scratch"
else
	trap 'rm -rf "$scratch"' EXIT
fi
mkdir -p "$scratch/tarballs" "$scratch/app"

# Public packages: every packages/* without "private": true.
mapfile -t public_dirs < <(node -e '
const fs = require("node:fs");
for (const dir of fs.readdirSync("packages").sort()) {
	const file = `packages/${dir}/package.json`;
	if (!fs.existsSync(file)) continue;
	if (JSON.parse(fs.readFileSync(file, "utf8")).private !== true) console.log(`packages/${dir}`);
}')
for dir in "${public_dirs[@]}"; do
	if [ ! -f "$dir/dist/index.js" ] || [ ! -f "$dir/dist/index.d.ts" ]; then
		echo "consumer: $dir/dist is missing; run \`pnpm build\` first" >&2
		exit 1
	fi
done

pack_started=$(date +%s)
# Packing is I/O-bound; in parallel it takes about as long as one pack.
pids=()
for dir in "${public_dirs[@]}"; do
	(cd "$dir" && "${PNPM[@]}" pack --pack-destination "$scratch/tarballs" >/dev/null) &
	pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
mapfile -t tarballs < <(ls "$scratch"/tarballs/*.tgz)
if [ "${#tarballs[@]}" -ne "${#public_dirs[@]}" ]; then
	echo "consumer: packed ${#tarballs[@]} tarballs for ${#public_dirs[@]} public packages" >&2
	exit 1
fi
echo "consumer: packed ${#tarballs[@]} packages in $(($(date +%s) - pack_started)) s"

# The native module is pinned to the workspace's copy so its already-compiled addon can be reused:
# install scripts are skipped (no 2-minute compile from source) and the build/ folder is copied in.
bs3_dir=$(ls -d node_modules/.pnpm/better-sqlite3@*/node_modules/better-sqlite3 2>/dev/null | head -n 1 || true)
if [ -n "$bs3_dir" ]; then
	bs3_version=$(node -p "require('./$bs3_dir/package.json').version")
else
	bs3_version=12
fi
# Pinned like the optional peer types a strict consumer installs (see the stores' READMEs). No
# @types/better-sqlite3: the SQLite store's declarations do not depend on it, and the strict
# typecheck below proves it. better-sqlite3 itself is an optional peer, installed explicitly as a
# Node user does (`npm i better-sqlite3`).
catalog_range() {
	node -e '
const line = require("node:fs").readFileSync("pnpm-workspace.yaml", "utf8").split("\n")
	.find((l) => l.replace(/"/g, "").trim().startsWith(`${process.argv[1]}:`));
if (!line) throw new Error(`no catalog entry for ${process.argv[1]}`);
process.stdout.write(line.slice(line.lastIndexOf(":") + 1).trim());
' "$1"
}
types_pg="@types/pg@$(catalog_range @types/pg)"
pg_spec="pg@$(catalog_range pg)"
kysely_spec="kysely@$(catalog_range kysely)"
ioredis_spec="ioredis@$(catalog_range ioredis)"

cp scripts/consumer/consumer.ts "$scratch/app/consumer.ts"
# The quick start is taken from the README itself, so the README cannot drift from what works.
node -e '
const fs = require("node:fs");
const readme = fs.readFileSync("README.md", "utf8");
const section = readme.slice(readme.indexOf("## Quick start"));
const code = /```ts\n([\s\S]*?)```/.exec(section);
const output = /It prints:\s*```text\n([\s\S]*?)```/.exec(section);
if (!code || !output) throw new Error("README quick start: no ts block or no \"It prints:\" text block");
fs.writeFileSync(process.argv[1] + "/quickstart.mjs", code[1]);
fs.writeFileSync(process.argv[1] + "/quickstart.expected", output[1]);
' "$scratch/app"

cd "$scratch/app"
cat >package.json <<'JSON'
{ "name": "authpool-consumer-test", "private": true, "type": "module" }
JSON
cat >tsconfig.nodenext.json <<'JSON'
{
	"compilerOptions": {
		"target": "ES2022",
		"module": "nodenext",
		"moduleResolution": "nodenext",
		"strict": true,
		"skipLibCheck": false,
		"noEmit": true,
		"types": ["node"]
	},
	"files": ["consumer.ts"]
}
JSON
cat >tsconfig.bundler.json <<'JSON'
{
	"compilerOptions": {
		"target": "ES2022",
		"module": "esnext",
		"moduleResolution": "bundler",
		"strict": true,
		"skipLibCheck": false,
		"noEmit": true,
		"types": ["node"]
	},
	"files": ["consumer.ts"]
}
JSON

install_started=$(date +%s)
npm install --no-audit --no-fund --prefer-offline --ignore-scripts --loglevel=error \
	"${tarballs[@]}" \
	"typescript@~5.9" "@types/node@^20.19" \
	"better-sqlite3@$bs3_version" "$pg_spec" "$types_pg" "$kysely_spec" "$ioredis_spec" \
	>/dev/null
echo "consumer: npm install took $(($(date +%s) - install_started)) s"

if [ -n "$bs3_dir" ] && [ -f "$root/$bs3_dir/build/Release/better_sqlite3.node" ]; then
	cp -R "$root/$bs3_dir/build" node_modules/better-sqlite3/build
	echo "consumer: reused the workspace's compiled better-sqlite3 $bs3_version"
else
	echo "consumer: no compiled better-sqlite3 in the workspace; compiling it (slow)"
	npm_config_nodedir="${npm_config_nodedir:-/usr}" npm rebuild better-sqlite3 --loglevel=error >/dev/null
fi

tsc_started=$(date +%s)
# The two programs are independent and each is single-threaded: run them side by side.
node_modules/.bin/tsc -p tsconfig.nodenext.json >tsc.nodenext.log 2>&1 &
nodenext_pid=$!
node_modules/.bin/tsc -p tsconfig.bundler.json >tsc.bundler.log 2>&1 &
bundler_pid=$!
tsc_failed=0
for mode in nodenext bundler; do
	pid_var="${mode}_pid"
	if wait "${!pid_var}"; then
		echo "consumer: strict typecheck ($mode) ok"
	else
		echo "consumer: strict typecheck ($mode) failed:" >&2
		cat "tsc.$mode.log" >&2
		tsc_failed=1
	fi
done
[ "$tsc_failed" -eq 0 ] || exit 1
echo "consumer: typechecks took $(($(date +%s) - tsc_started)) s"

if ! node quickstart.mjs >quickstart.out 2>quickstart.err; then
	echo "consumer: the README quick start failed:" >&2
	cat quickstart.out quickstart.err >&2
	exit 1
fi
if ! diff -u quickstart.expected quickstart.out; then
	echo "consumer: the README quick start printed something other than the README says (diff above)" >&2
	exit 1
fi
echo "consumer: README quick start ok, printed as documented:"
sed 's/^/  /' quickstart.out

# The same quick start on Bun, from the same install with better-sqlite3 moved out of reach: on Bun
# the store runs on bun:sqlite and needs no native module (better-sqlite3 is an optional peer).
bun_bin="${AUTHPOOL_BUN:-$(node "$root/scripts/bun/find-bun.mjs")}"
mv node_modules/better-sqlite3 better-sqlite3.aside
restore_bs3() {
	if [ -d better-sqlite3.aside ]; then mv better-sqlite3.aside node_modules/better-sqlite3; fi
}
# On Node, without it, the first open says what to install (a typed error, not a crash at import).
cat >missing-driver.mjs <<'JS'
import { createSqliteStore } from "@authpool/store-sqlite";
try {
	await createSqliteStore({ path: ":memory:" });
	console.log("opened without better-sqlite3");
} catch (error) {
	console.log(`${error.code}: ${error.message}`);
}
JS
# No NODE_PATH: under `pnpm exec` it points into the workspace, where better-sqlite3 is installed.
missing=$(env -u NODE_PATH node missing-driver.mjs 2>&1 || true)
case "$missing" in
"STORE_ERROR: "*"npm i better-sqlite3"*) echo "consumer: on Node without better-sqlite3: ${missing%%:*} saying to \`npm i better-sqlite3\`" ;;
*)
	restore_bs3
	echo "consumer: on Node without better-sqlite3 the store did not fail with STORE_ERROR naming the install: $missing" >&2
	exit 1
	;;
esac
if ! env -u NODE_PATH "$bun_bin" quickstart.mjs >quickstart.bun.out 2>quickstart.bun.err; then
	restore_bs3
	echo "consumer: the README quick start failed on Bun $("$bun_bin" --version):" >&2
	cat quickstart.bun.out quickstart.bun.err >&2
	exit 1
fi
restore_bs3
if ! diff -u quickstart.expected quickstart.bun.out; then
	echo "consumer: on Bun the README quick start printed something other than the README says (diff above)" >&2
	exit 1
fi
echo "consumer: README quick start ok on Bun $("$bun_bin" --version) too, without better-sqlite3 installed"
