#!/usr/bin/env bash
# The README's test command (`npm test`): works on a fresh machine with only Node 20, npm and apt.
# Gets pnpm if missing, installs with the frozen lockfile, builds, typechecks, lints and runs every
# package's tests (starting any local server a test needs).
set -euo pipefail
cd "$(dirname "$0")/.."
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
export VITE_CONFIG_NATIVE_IGNORE_WARNING=true

if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version 2>/dev/null)" = "9.15.9" ]; then
	PNPM=(pnpm)
else
	PNPM=(npx -y pnpm@9.15.9)
fi
echo "== install (frozen lockfile)"
"${PNPM[@]}" install --frozen-lockfile
echo "== build"
"${PNPM[@]}" run build
echo "== typecheck"
"${PNPM[@]}" run typecheck
echo "== lint"
"${PNPM[@]}" run lint
echo "== changesets"
mkdir -p .tmp
rm -f .tmp/changeset-status.json
# `changeset status` exits non-zero when packages changed without a changeset; that is not a test
# failure. What fails the run is a planned major, judged from the JSON it writes.
"${PNPM[@]}" exec changeset status --output=.tmp/changeset-status.json || true
if [ -f .tmp/changeset-status.json ]; then
	node scripts/check-changesets.mjs .tmp/changeset-status.json
else
	echo "changesets: no status written (no base branch here?); skipped"
fi
echo "== test"
status=0
"${PNPM[@]}" exec vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest-results.json "$@" || status=$?
# One plain closing line ("N passed, N failed") for tools that read the end of the log.
node -e '
const r = JSON.parse(require("node:fs").readFileSync(".tmp/vitest-results.json", "utf8"));
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`authpool: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit "$status"
