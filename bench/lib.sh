# Shared set-up for the benchmark scripts: a release build, a throw-away database, starting and
# stopping one portal process, and reading its memory. Sourced, not run.
# Everything targets 127.0.0.1; cleanup() removes what was created, even after a failure.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/target/release/twisterlab-portal"
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${BENCH_PORT:-18080}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d -t twisterlab-bench.XXXXXX)
DB_NAME="twisterlab_bench_$(date +%s)_$$"
DB_URL=""
PORTAL_PID=""

say() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { say "error: $*"; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing $2 (for $1)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null || die "cannot install $2"
  else
    die "$1 is missing: install the Debian package $2"
  fi
}

# `ADMIN_URL` with its database name replaced by $1 (a query string is kept).
url_for() {
  local base=${ADMIN_URL%%\?*} query=""
  [ "$base" != "$ADMIN_URL" ] && query="?${ADMIN_URL#*\?}"
  printf '%s/%s%s' "${base%/*}" "$1" "$query"
}

cleanup() {
  stop_portal
  if [ -n "$DB_URL" ]; then
    psql "$ADMIN_URL" -qAtc "drop database if exists \"$DB_NAME\" with (force)" >/dev/null 2>&1 \
      && say "dropped database $DB_NAME"
  fi
  rm -rf "$WORK"
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

setup() {
  need curl curl
  need psql postgresql-client
  need wrk wrk
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  port_is_free || die "127.0.0.1:$PORT is in use: set BENCH_PORT to a free port"
  if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
    [ -x "$BIN" ] || die "BENCH_NO_BUILD=1 but $BIN does not exist"
    say "using the existing $BIN (BENCH_NO_BUILD=1, built $(date -r "$BIN" '+%F %T'))"
  else
    say "building the release binary (cargo build --release -p twisterlab-server)"
    (cd "$ROOT" && cargo build --release -p twisterlab-server -q) || die "the release build failed"
  fi
  PGCONNECT_TIMEOUT=5 psql "$ADMIN_URL" -qAtc 'select 1' >/dev/null \
    || die "cannot reach PostgreSQL at $ADMIN_URL: start it or set DATABASE_URL"
  say "creating database $DB_NAME"
  psql "$ADMIN_URL" -qAtc "create database \"$DB_NAME\"" >/dev/null
  DB_URL=$(url_for "$DB_NAME")
  say "applying migrations once (twisterlab-portal migrate)"
  portal_env "$BIN" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }
}

# Runs "$@" with only the environment the portal needs.
portal_env() {
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" DATABASE_URL="$DB_URL" TWISTERLAB_BIND="127.0.0.1:$PORT" \
    TWISTERLAB_LOG_FORMAT=json "$@"
}

now_ns() { date +%s%N; }

# Starts `serve` in the background; sets STARTUP_MS to the milliseconds until /readyz first
# answered 200 (not a command substitution: PORTAL_PID must stay in this shell).
STARTUP_MS=""
start_portal() {
  local t0 t1 i=0
  t0=$(now_ns)
  # A simple command (env execs the portal), so $! is the portal's own process id.
  # BENCH_PORTAL_ENV adds NAME=VALUE words for experiments (e.g. MALLOC_MMAP_THRESHOLD_=1048576).
  # shellcheck disable=SC2086
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" DATABASE_URL="$DB_URL" TWISTERLAB_BIND="127.0.0.1:$PORT" \
    TWISTERLAB_LOG_FORMAT=json ${BENCH_PORTAL_ENV:-} "$BIN" serve >>"$WORK/portal.log" 2>&1 &
  PORTAL_PID=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$BASE/readyz" 2>/dev/null)" = 200 ]; do
    kill -0 "$PORTAL_PID" 2>/dev/null || { tail -20 "$WORK/portal.log" >&2; die "the portal exited during start-up"; }
    i=$((i + 1))
    [ "$i" -lt 6000 ] || die "no 200 from /readyz after 30 s"
    sleep 0.005
  done
  t1=$(now_ns)
  STARTUP_MS=$(((t1 - t0) / 1000000))
}

stop_portal() {
  [ -n "$PORTAL_PID" ] || return 0
  kill -TERM "$PORTAL_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$PORTAL_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$PORTAL_PID" 2>/dev/null || true
  wait "$PORTAL_PID" 2>/dev/null || true
  PORTAL_PID=""
}

# A /proc/PID/status field of the portal in MiB (VmRSS, VmHWM).
mem_mib() {
  awk -v k="$1:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$PORTAL_PID/status"
}

# min / median / max of the numbers on standard input.
stats() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n/a"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%s / %s / %s", v[1], m, v[NR] }'
}

# Figures from a wrk --latency report: requests/s, p50, p99, errors.
wrk_figures() {
  awk '
    /Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = $2 }
    /^ +99%/ { p99 = $2 }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    /Socket errors:/ { sock = $0 }
    END { printf "%s|%s|%s|%s|%s\n", rps, p50, p99, (bad == "" ? 0 : bad), sock }' "$1"
}
