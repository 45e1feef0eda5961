#!/usr/bin/env bash
# The README's test command (`npm test`): works on a fresh machine with only Node 20, npm and apt.
# Gets pnpm if missing, installs with the frozen lockfile, builds (ESM by tsup; declarations emitted once
# by `tsc -b` and rolled up by scripts/build-dts.mjs), typechecks (a no-op by then), lints, checks the API
# report and the changesets, then runs every package's tests (starting any local server a test needs)
# while, alongside them, the consumer test (scripts/consumer-test.sh: the packed packages installed
# with npm outside the repo, its quick start run on Node and on Bun) and the Bun checks (the
# packages' suites and a smoke run of the built packages under Bun: scripts/bun-check.mjs) run. Bun
# comes from the npm registry into .tmp/bun when it is not installed; a missing Bun or a Bun-only
# failure fails the run. Each step prints its duration.
#
# What the tests need from outside the repo (PostgreSQL and Redis, Chromium, Bun: found, or installed
# with apt / npm on a fresh machine) is prepared in the background from the start, while the install
# and the build run; the steps that need them wait for it and print its log.
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

# Background preparation (see the header). Each job writes its output, log and exit code under .tmp/setup.
mkdir -p .tmp/setup
rm -f .tmp/setup/*
(
	bash scripts/services.sh env >.tmp/setup/services.env 2>.tmp/setup/services.log
	echo $? >.tmp/setup/services.rc
	# After the services: both may call apt-get, which takes one dpkg lock at a time.
	bash scripts/chromium.sh >.tmp/setup/chromium.path 2>.tmp/setup/chromium.log
	echo $? >.tmp/setup/chromium.rc
) &
system_setup=$!
(
	node scripts/bun/find-bun.mjs >.tmp/setup/bun.path 2>.tmp/setup/bun.log
	echo $? >.tmp/setup/bun.rc
) &
bun_setup=$!
# A background job's result: its log, then its output; fails the run when the job failed.
prepared() { # name
	cat ".tmp/setup/$1.log" >&2 || true
	if [ "$(cat ".tmp/setup/$1.rc" 2>/dev/null || echo 1)" != "0" ]; then
		echo "== $1: preparation failed (log above)" >&2
		exit 1
	fi
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

begin "bun (AUTHPOOL_BUN, .tmp/bun, PATH, or installed from npm into .tmp/bun; prepared in the background)"
wait "$bun_setup" || true
prepared bun
AUTHPOOL_BUN="$(cat .tmp/setup/bun.path)"
export AUTHPOOL_BUN
echo "bun: $AUTHPOOL_BUN ($("$AUTHPOOL_BUN" --version))"
end
# The consumer test and the Bun checks run alongside the vitest run: they are separate processes that
# use only the build and Bun, and the vitest run spends much of its time waiting on child processes,
# servers and timers. Their output goes to a log, printed with its duration after the vitest run.
mkdir -p .tmp/steps
rm -f .tmp/steps/*
(
	started=$(now_ms)
	status=0
	{
		echo "== consumer (packed tarballs installed with npm outside the repo)"
		bash scripts/consumer-test.sh || status=$?
		echo "== consumer done after $((($(now_ms) - started) / 1000)) s"
		echo "== bun (package suites under bun test, built packages under bun)"
		node scripts/bun-check.mjs || status=$?
	} >.tmp/steps/alongside.log 2>&1
	echo $(($(now_ms) - started)) >.tmp/steps/alongside.ms
	echo "$status" >.tmp/steps/alongside.rc
) &
alongside=$!

begin "services and browser (PostgreSQL, Redis, Chromium: found, started or installed; prepared in the background)"
wait "$system_setup" || true
prepared services
eval "$(cat .tmp/setup/services.env)"
prepared chromium
AUTHPOOL_CHROMIUM="$(cat .tmp/setup/chromium.path)"
export AUTHPOOL_CHROMIUM
end
begin "test"
status=0
"${PNPM[@]}" exec vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest-results.json "$@" || status=$?
end
begin "consumer test and Bun checks (ran alongside the tests; their log follows)"
wait "$alongside" || true
cat .tmp/steps/alongside.log
alongside_ms=$(cat .tmp/steps/alongside.ms 2>/dev/null || echo 0)
echo "== consumer test and Bun checks took $((alongside_ms / 1000)).$(((alongside_ms % 1000) / 100)) s"
alongside_status=$(cat .tmp/steps/alongside.rc 2>/dev/null || echo 1)
[ "$alongside_status" = "0" ] || status=$alongside_status
end
# One plain closing line ("N passed, N failed") for tools that read the end of the log.
node -e '
const r = JSON.parse(require("node:fs").readFileSync(".tmp/vitest-results.json", "utf8"));
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`authpool: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit "$status"
