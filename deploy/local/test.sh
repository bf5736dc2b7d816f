#!/usr/bin/env bash
# Runs pytest against real servers: the ones named in the environment, else the local dev stack.
# A developer's dev stack is left running (the next run starts in seconds); under CI a stack
# this script started is stopped again at the end.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."

if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" || -z "${MONGODB_URI:-}" || -z "${SMTP_HOST:-}" ]]; then
  bash "$here/infra.sh" up
  eval "$(bash "$here/infra.sh" env)"
  if [[ "${CI:-}" == "true" ]]; then
    trap 'bash "$here/infra.sh" down || true' EXIT
  fi
fi
# The unsubscribe page is tested in a real browser: Debian's chromium, never a downloaded one.
bash "$here/browser.sh"

.venv/bin/pytest "$@"
