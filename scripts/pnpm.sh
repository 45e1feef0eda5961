#!/usr/bin/env bash
# Runs pnpm 9.15.9 whether or not it is installed: the global one when it is that version, else
# through npx. Lets `npm run build|typecheck|lint|bench` work on a machine with only Node and npm.
set -euo pipefail
if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version 2>/dev/null)" = "9.15.9" ]; then
	exec pnpm "$@"
fi
# turbo and nested package scripts call `pnpm` by name, so the fallback must be on PATH too.
shim_dir="${TMPDIR:-/tmp}/authpool-pnpm-shim"
mkdir -p "$shim_dir"
printf '#!/usr/bin/env bash\nexec npx -y pnpm@9.15.9 "$@"\n' >"$shim_dir/pnpm"
chmod +x "$shim_dir/pnpm"
export PATH="$shim_dir:$PATH"
exec npx -y pnpm@9.15.9 "$@"
