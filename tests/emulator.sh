#!/usr/bin/env bash
# Starts / stops a local AWS emulator (MiniStack, from PyPI) for the tailor-aws integration tests.
#
#   bash tests/emulator.sh start   # venv at .venv-emulator, MiniStack on 127.0.0.1:4566
#   bash tests/emulator.sh stop
#
# Then run the tests with:
#   AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 \
#   AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test cargo test -p tailor-aws
#
# MiniStack is launched through its console script (`ministack`, i.e. ministack.app:main) in the
# foreground of its own session/process group (setsid); BIND_HOST and GATEWAY_PORT set where it
# listens. Only the loopback address is used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EMULATOR_VENV:-$ROOT/.venv-emulator}"
HOST=127.0.0.1
PORT="${EMULATOR_PORT:-4566}"
STATE="${EMULATOR_STATE_DIR:-$ROOT/target/emulator}"
PIDFILE="$STATE/ministack.pid"
LOG="$STATE/ministack.log"
PACKAGES=(ministack==1.5.33 cryptography)
TIMEOUT=30

port_answers() {
    curl -s -o /dev/null --max-time 1 "http://$HOST:$PORT/_ministack/health"
}

running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
    mkdir -p "$STATE"
    if pid="$(running_pid)"; then
        echo "MiniStack already running (PID $pid) on $HOST:$PORT"
        return 0
    fi
    if port_answers; then
        echo "error: $HOST:$PORT is already in use by another process" >&2
        return 1
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        python3 -m venv "$VENV"
    fi
    if ! "$VENV/bin/python" -m pip show ministack 2>/dev/null | grep -qx "Version: 1.5.33" \
        || ! "$VENV/bin/python" -m pip show cryptography >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}"
    fi

    # Own session => own process group (PGID == PID), so `stop` can signal the whole group.
    BIND_HOST="$HOST" GATEWAY_PORT="$PORT" MINISTACK_HOST="$HOST" MINISTACK_REGION=us-east-1 \
        TMPDIR="$STATE" S3_PERSIST=0 LOG_LEVEL="${EMULATOR_LOG_LEVEL:-WARNING}" \
        setsid "$VENV/bin/ministack" >"$LOG" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$PIDFILE"

    local waited=0
    until port_answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "error: MiniStack exited during startup; log follows" >&2
            cat "$LOG" >&2
            rm -f "$PIDFILE"
            return 1
        fi
        if ((waited >= TIMEOUT * 5)); then
            echo "error: MiniStack did not answer on $HOST:$PORT within ${TIMEOUT}s; log follows" >&2
            cat "$LOG" >&2
            stop || true
            return 1
        fi
        sleep 0.2
        waited=$((waited + 1))
    done
    echo "MiniStack running (PID $pid) on http://$HOST:$PORT (log: $LOG)"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        echo "MiniStack is not running"
        rm -f "$PIDFILE"
        return 0
    fi
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    # MiniStack never removes the function code it unpacks (tens of MB per binary per run).
    rm -rf "$STATE"/ministack-provided-code-*
    echo "MiniStack stopped (PID $pid)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
