#!/usr/bin/env bash
# `npm run demo`: works on a fresh clone with only Node 20 and npm. Installs (frozen lockfile) when
# node_modules is missing, builds the CLI and what it depends on, then runs `authpool demo` offline.
set -euo pipefail
cd "$(dirname "$0")/.."
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
PNPM=(bash scripts/pnpm.sh)
if [ ! -d node_modules/.pnpm ] || [ ! -e apps/cli/node_modules/commander ]; then
	echo "== installing dependencies (once)"
	"${PNPM[@]}" install --frozen-lockfile --reporter=silent
fi
if [ ! -f apps/cli/dist/bin.js ] || [ -n "$(find apps/cli/src apps/gateway/src packages/*/src -newer apps/cli/dist/bin.js -name '*.ts' -print -quit 2>/dev/null)" ]; then
	echo "== building the CLI"
	"${PNPM[@]}" exec turbo run build --filter=@authpool/cli... --output-logs=errors-only
fi
exec node apps/cli/dist/bin.js demo "$@"
