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
echo "== test"
"${PNPM[@]}" exec vitest run "$@"
