#!/usr/bin/env bash
# Makes sure Debian's chromium is installed for the browser tests (Playwright drives it).
set -euo pipefail
if [[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]]; then
  exit 0
fi
if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null; then
  echo "browser.sh: chromium is missing; install Debian's 'chromium' package or set CHROMIUM_PATH" >&2
  exit 1
fi
echo "browser.sh: installing chromium from Debian's packages" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
