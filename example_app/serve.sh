#!/usr/bin/env bash
# `make serve`: the example site the production way, on one machine.
#
#   gunicorn with SERVE_WORKERS sync workers on 127.0.0.1:PORT
#   + one RQ worker (`flask ome-privacy worker`, with its retry scheduler)
#   on DATABASE_URL (default: the SQLite file instance/demo.sqlite)
#   and REDIS_URL   (default: redis://127.0.0.1:6379/0; a local redis-server is started
#                    for the run when nothing answers there)
#
# Ctrl-C stops all of it. Everything it needs is installed by `make venv` and, for
# redis-server, `make serve-deps`.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
PORT=${PORT:-5000}
SERVE_WORKERS=${SERVE_WORKERS:-3}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export OME_PRIVACY_JOBS=rq
mkdir -p instance

log() { printf 'serve: %s\n' "$*"; }

redis_answers() {
    "$BIN/python" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()' \
        "$REDIS_URL" >/dev/null 2>&1
}

pids=()
stop_all() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

if ! redis_answers; then
    host_port=${REDIS_URL#redis://}; host_port=${host_port%%/*}
    case "$host_port" in
        127.0.0.1:*|localhost:*) ;;
        *) log "Redis at $REDIS_URL does not answer"; exit 1 ;;
    esac
    if ! command -v redis-server >/dev/null; then
        log "redis-server is not installed: run 'make serve-deps' (apt-get install redis-server)"
        exit 1
    fi
    log "starting redis-server on ${host_port} (data in instance/)"
    redis-server --bind 127.0.0.1 --port "${host_port##*:}" --dir "$PWD/instance" \
        --appendonly yes --save "" --logfile "$PWD/instance/redis.log" &
    pids+=($!)
    for _ in $(seq 1 50); do redis_answers && break; sleep 0.1; done
    redis_answers || { log "redis-server did not start; see instance/redis.log"; exit 1; }
fi

"$BIN/flask" --app example_app demo-setup

log "RQ worker on ${REDIS_URL##*@}"   # the part after any password
"$BIN/flask" --app example_app ome-privacy worker &
pids+=($!)

log "gunicorn, ${SERVE_WORKERS} workers, on http://127.0.0.1:${PORT}"
options=()
# gunicorn 27+ opens a control socket at one fixed path per user: two sites would collide.
if "$BIN/gunicorn" --help | grep -q -- --no-control-socket; then options+=(--no-control-socket); fi
"$BIN/gunicorn" --workers "$SERVE_WORKERS" --bind "127.0.0.1:${PORT}" --access-logfile - "${options[@]}" \
    "example_app:create_app()" &
pids+=($!)

# Stop everything as soon as any one of them stops.
wait -n "${pids[@]}" || true
log "a process stopped; shutting the rest down"
