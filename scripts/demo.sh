#!/usr/bin/env bash
# `npm run demo`: works on a fresh clone with only Node 20 and npm. Installs (frozen lockfile) when
# node_modules is missing, then runs `authpool demo` offline. Nothing needs building: the CLI runs from
# source through tsx and the `@authpool/source` export condition (the same way the tests run).
set -euo pipefail
cd "$(dirname "$0")/.."
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
if [ ! -d node_modules/.pnpm ] || [ ! -e apps/cli/node_modules/commander ] || [ ! -e node_modules/tsx ]; then
	echo "== installing dependencies (once)"
	bash scripts/pnpm.sh install --frozen-lockfile --reporter=silent
fi
exec node --conditions=@authpool/source --import tsx apps/cli/src/bin.ts demo "$@"
