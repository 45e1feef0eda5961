#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser tests.
#
#   bash scripts/chromium.sh        find or install it; print the executable's path on stdout
#
# Order: $AUTHPOOL_CHROMIUM (an explicit executable); else `chromium` / `chromium-browser` on PATH
# (Debian's package installs /usr/bin/chromium); else `apt-get install chromium`, then look again.
# Exits non-zero when no browser can be found or installed: the tests that call this fail, never skip.
set -euo pipefail

log() { echo "chromium: $*" >&2; }

find_chromium() {
	if [ -n "${AUTHPOOL_CHROMIUM:-}" ]; then
		[ -x "$AUTHPOOL_CHROMIUM" ] && { echo "$AUTHPOOL_CHROMIUM"; return 0; }
		log "AUTHPOOL_CHROMIUM=$AUTHPOOL_CHROMIUM is not executable"
		return 1
	fi
	local candidate
	for candidate in chromium chromium-browser; do
		if command -v "$candidate" >/dev/null 2>&1; then
			command -v "$candidate"
			return 0
		fi
	done
	[ -x /usr/bin/chromium ] && { echo /usr/bin/chromium; return 0; }
	return 1
}

if find_chromium; then exit 0; fi
if [ -n "${AUTHPOOL_CHROMIUM:-}" ]; then exit 1; fi

command -v apt-get >/dev/null 2>&1 || { log "no chromium and no apt-get: install chromium yourself"; exit 1; }
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
log "installing chromium with apt-get (once)"
# Another process may hold the dpkg lock; apt-get waits for it rather than failing.
"${sudo[@]}" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium >&2
find_chromium || { log "apt-get finished but no chromium executable was found"; exit 1; }
