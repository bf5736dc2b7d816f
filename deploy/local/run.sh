#!/usr/bin/env bash
# `make run`: the dev stack plus the four services, logs on this terminal.
# Ctrl-C, SIGINT or SIGTERM stops the services, then the dev stack, and leaves no process behind.
# In the background: `bash deploy/local/run.sh &` stops on `kill -INT $!` or `kill $!` alike;
# `make run &` on `kill <make's pid>` (SIGTERM, which make passes on) but not on SIGINT, which
# make ignores there and would not pass on anyway.
# With KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI and SMTP_HOST (SMTP_PORT) already set, those
# servers are used and the dev stack is neither started nor stopped. The services listen on
# HTTP_PORT_BASE + 1..4 (default 8100: meetings 8101, actions 8102, academy 8103,
# notifications 8104).
# shellcheck disable=SC2317  # the stop functions run from traps
set -euo pipefail

# A non-interactive shell starts its background jobs with SIGINT ignored, and bash cannot trap a
# signal that was ignored when it started: begin again (same pid) with SIGINT's default action.
if [[ $(trap -p INT) == "trap -- '' SIGINT" && -z ${RUN_SH_SIGINT_RESET:-} ]]; then
    export RUN_SH_SIGINT_RESET=1
    if env --default-signal=INT true 2>/dev/null; then
        exec env --default-signal=INT bash "${BASH_SOURCE[0]}" "$@"
    fi
    # Python ignores SIGPIPE and SIGXFSZ itself: those go back to their defaults as well.
    exec python3 -c 'import os, signal, sys
for number in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):
    signal.signal(number, signal.SIG_DFL)
os.execvp("bash", ["bash", *sys.argv[1:]])' "${BASH_SOURCE[0]}" "$@"
fi
unset RUN_SH_SIGINT_RESET

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
INFRA=$HERE/infra.sh
HTTP_PORT_BASE=${HTTP_PORT_BASE:-8100}
SERVICES=(
    "meetings:$((HTTP_PORT_BASE + 1))"
    "actions:$((HTTP_PORT_BASE + 2))"
    "academy:$((HTTP_PORT_BASE + 3))"
    "notifications:$((HTTP_PORT_BASE + 4))"
)
READY_TIMEOUT_S=60
# Above the services' own shutdown grace (SHUTDOWN_GRACE_S, 15 s by default).
STOP_TIMEOUT_S=20

log() { echo "run: $*" >&2; }

declare -A service_pids=()
# make run serves the dev stack, also from a shell that holds the test stack's environment.
if [[ ${PARTNERSHIP_STACK:-dev} != dev ]]; then
    log "ignoring PARTNERSHIP_STACK=$PARTNERSHIP_STACK: make run uses the dev stack"
    unset PARTNERSHIP_STACK
fi
use_devstack=1
if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} && -n ${MONGODB_URI:-} && -n ${SMTP_HOST:-} &&
    ${PARTNERSHIP_DEVSTACK:-} != 1 ]]; then
    use_devstack=0
fi

stop_services() {
    local name pid waited
    for name in "${!service_pids[@]}"; do
        kill -TERM "${service_pids[$name]}" 2>/dev/null || true
    done
    for name in "${!service_pids[@]}"; do
        pid=${service_pids[$name]}
        waited=0
        while kill -0 "$pid" 2>/dev/null; do
            if ((waited == STOP_TIMEOUT_S * 10)); then
                log "$name did not stop within ${STOP_TIMEOUT_S}s; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        wait "$pid" 2>/dev/null || true
    done
    service_pids=()
}

shutdown() {
    trap - EXIT INT TERM
    log "stopping the services"
    stop_services
    if ((use_devstack)); then
        log "stopping the dev stack"
        bash "$INFRA" down || true
    fi
}
trap shutdown EXIT
# Exit through the EXIT trap, with the conventional 128+signal status.
trap 'exit 130' INT
trap 'exit 143' TERM

if ((use_devstack)); then
    bash "$INFRA" up
    eval "$(bash "$INFRA" env)"
else
    log "using the servers named in the environment, not the dev stack"
fi
export ENVIRONMENT=development
# The dev stack's opt-ins: the published development secrets, and the partnership's members
# seeded into the directory. A deployment sets its own secrets and loads its own directory.
export ALLOW_DEVELOPMENT_SECRETS=true
export SEED_DIRECTORY=${SEED_DIRECTORY:-true}

# Run the interpreter itself rather than `uv run`, so our signals reach the service directly.
cd "$REPO"
PYTHON="$REPO/.venv/bin/python"  # created by `make venv`

for entry in "${SERVICES[@]}"; do
    name=${entry%%:*}
    port=${entry##*:}
    # Each line prefixed with the service's name, so four logs stay readable on one terminal;
    # the prefixer ignores Ctrl-C so it still carries the service's shutdown lines.
    HTTP_PORT=$port "$PYTHON" -m "services.$name" \
        > >(trap '' INT && exec sed -u "s/^/[$name] /") 2>&1 </dev/null &
    service_pids[$name]=$!
done

wait_until_ready() {
    local name=$1 port=$2 started=$SECONDS
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null; do
        if ! kill -0 "${service_pids[$name]}" 2>/dev/null; then
            log "$name exited during start-up (see its log lines above)"
            return 1
        fi
        if ((SECONDS - started >= READY_TIMEOUT_S)); then
            log "$name: http://127.0.0.1:$port/readyz did not answer 200 within ${READY_TIMEOUT_S}s"
            return 1
        fi
        sleep 0.5
    done
}

failed=()
for entry in "${SERVICES[@]}"; do
    wait_until_ready "${entry%%:*}" "${entry##*:}" || failed+=("${entry%%:*}")
done
if ((${#failed[@]} > 0)); then
    log "not ready: ${failed[*]}; stopping everything"
    exit 1
fi

echo
for entry in "${SERVICES[@]}"; do
    printf '  %-14s http://127.0.0.1:%s/docs   http://127.0.0.1:%s/readyz\n' \
        "${entry%%:*}" "${entry##*:}" "${entry##*:}"
done
printf '  %-14s %s (SMTP %s:%s)\n' mailpit "${MAILPIT_API_URL:-?}" "$SMTP_HOST" "${SMTP_PORT:-25}"
echo
log "all services ready; Ctrl-C (SIGINT) or SIGTERM stops everything"

# A service that dies takes the whole stack down: a half-running system misleads.
set +e
wait -n "${service_pids[@]}"
status=$?
set -e
for name in "${!service_pids[@]}"; do
    if ! kill -0 "${service_pids[$name]}" 2>/dev/null; then
        log "$name exited (status $status); stopping everything"
        unset "service_pids[$name]"
    fi
done
exit 1
