#!/usr/bin/env bash
# The README's test command (`npm test`): works on a fresh machine with only Node 20, npm and apt.
# Gets pnpm if missing, installs with the frozen lockfile, builds (ESM by tsup; declarations emitted once
# by `tsc -b` and rolled up by scripts/build-dts.mjs), typechecks (a no-op by then), lints, checks the API
# report, runs the consumer test (scripts/consumer-test.sh: the packed packages installed with npm
# outside the repo), checks the changesets, and runs every package's tests (starting any local
# server a test needs). Each step prints its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
export VITE_CONFIG_NATIVE_IGNORE_WARNING=true

PNPM=(bash scripts/pnpm.sh)

now_ms() { node -e 'process.stdout.write(String(Date.now()))'; }
step_started=0
step_name=""
begin() {
	step_name="$1"
	step_started=$(now_ms)
	echo "== $step_name"
}
end() {
	local elapsed=$(($(now_ms) - step_started))
	printf '== %s (%d.%d s)\n' "$step_name" $((elapsed / 1000)) $(((elapsed % 1000) / 100))
}

begin "install (frozen lockfile)"
"${PNPM[@]}" install --frozen-lockfile
end
begin "build"
"${PNPM[@]}" run build
end
begin "typecheck"
"${PNPM[@]}" run typecheck
end
begin "lint"
"${PNPM[@]}" run lint
end
begin "api report"
node scripts/api-report.mjs --check
end
begin "consumer (packed tarballs installed with npm outside the repo)"
bash scripts/consumer-test.sh
end
begin "changesets"
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
end
begin "services (PostgreSQL, Redis: found, started, or installed)"
eval "$(bash scripts/services.sh env)"
end
begin "test"
status=0
"${PNPM[@]}" exec vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest-results.json "$@" || status=$?
end
# One plain closing line ("N passed, N failed") for tools that read the end of the log.
node -e '
const r = JSON.parse(require("node:fs").readFileSync(".tmp/vitest-results.json", "utf8"));
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`authpool: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit "$status"
