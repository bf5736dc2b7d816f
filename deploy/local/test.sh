#!/usr/bin/env bash
# Runs pytest against real servers: the ones named in the environment, else the tests' own dev
# stack (PARTNERSHIP_STACK=test: other ports, other state), never the one `make run` serves, so
# nothing the tests publish, mail or stop on purpose reaches it. Every topic, consumer group and
# database the tests make is removed when the session ends (tests/infra.py).
# A developer's test stack is left running (the next run starts in seconds); under CI a stack
# this script started is stopped again at the end.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."

# The dev stack's own addresses (eval "$(infra.sh env)" in this shell) are make run's: not ours.
if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" || -z "${MONGODB_URI:-}" || -z "${SMTP_HOST:-}" ||
  ("${PARTNERSHIP_DEVSTACK:-}" == 1 && "${PARTNERSHIP_STACK:-dev}" != test) ]]; then
  export PARTNERSHIP_STACK=test
  bash "$here/infra.sh" up
  eval "$(bash "$here/infra.sh" env)"
  if [[ "${CI:-}" == "true" ]]; then
    trap 'bash "$here/infra.sh" down || true' EXIT
  fi
fi
# The unsubscribe page is tested in a real browser: Debian's chromium, never a downloaded one.
bash "$here/browser.sh"

# `--suite`: the whole suite the fast way. Most tests only wait on the servers, so they run
# side by side (pytest-xdist, one worker per core, a test module per worker); the few that
# stop and start the shared servers run alone afterwards (marked `serial`).
if [[ "${1:-}" == "--suite" ]]; then
  shift
  status=0
  .venv/bin/pytest -n "${TEST_WORKERS:-$(nproc)}" --dist loadfile -m "not serial" "$@" || status=$?
  serial=0
  .venv/bin/pytest -m serial -p no:cacheprovider "$@" || serial=$?
  # 5: no serial test among the paths given.
  if [[ $serial -ne 0 && $serial -ne 5 ]]; then status=$serial; fi
  exit "$status"
fi
.venv/bin/pytest "$@"
