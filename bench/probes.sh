#!/usr/bin/env bash
# Health-probe figures (issue 7, "Measure"): 1,000 probe targets at a 10-second interval — one
# demo-target process answering 1,000 URL variants (/health?i=N) — with the portal's CPU and
# memory, and how late probes start (p50 / p99 of start minus due time). A second phase adds a
# second portal process to show the Postgres leases: the probe count per interval stays the same.
# Usage: bench/probes.sh
# (BENCH_TARGETS=1000, BENCH_INTERVAL=10, BENCH_WARMUP=25, BENCH_SECONDS=60, BENCH_PORT=18080,
# BENCH_DEMO_PORT=18090, BENCH_DEMO_MODE=healthy (e.g. "slow 300ms", "down"), DATABASE_URL,
# BENCH_NO_BUILD=1 to reuse target/release/twisterlab-portal)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TARGETS=${BENCH_TARGETS:-1000}
INTERVAL=${BENCH_INTERVAL:-10}
WARMUP=${BENCH_WARMUP:-25}
SECONDS_MEASURED=${BENCH_SECONDS:-60}
DEMO_PORT=${BENCH_DEMO_PORT:-18090}
DEMO_MODE=${BENCH_DEMO_MODE:-healthy}
DEMO_PID="" SECOND_PID=""
# No cluster here: keep the Kubernetes worker quiet.
BENCH_PORTAL_ENV="${BENCH_PORTAL_ENV:-} TWISTERLAB_KUBE_ENABLED=false"

stop_extra() {
  for pid in "$SECOND_PID" "$DEMO_PID"; do
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SECOND_PID="" DEMO_PID=""
}

setup
trap 'stop_extra; cleanup' EXIT

(exec 3<>"/dev/tcp/127.0.0.1/$DEMO_PORT") 2>/dev/null && die "127.0.0.1:$DEMO_PORT is in use: set BENCH_DEMO_PORT"
say "starting one demo target on 127.0.0.1:$DEMO_PORT"
env -i PATH="$PATH" TWISTERLAB_LOG_FORMAT=json "$BIN" demo-target --bind "127.0.0.1:$DEMO_PORT" >>"$WORK/demo.log" 2>&1 &
DEMO_PID=$!
until curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$DEMO_PORT/mode"; do
  kill -0 "$DEMO_PID" 2>/dev/null || die "the demo target exited"
  sleep 0.05
done
curl -sf -o /dev/null -d "$DEMO_MODE" "http://127.0.0.1:$DEMO_PORT/mode" || die "the demo target refused mode $DEMO_MODE"

say "replacing the seeded services with $TARGETS targets every $INTERVAL s (first runs spread over the interval)"
psql "$DB_URL" -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
delete from health_services;
insert into health_services (id, name, url, expect, interval_seconds, timeout_ms, failures_before_down)
select gen_random_uuid(), 'bench-' || i, 'http://127.0.0.1:$DEMO_PORT/health?i=' || i,
       '{"/status": "healthy", "/database": "connected", "/redis": "connected", "/agents": "operational"}',
       $INTERVAL, 2000, 3
  from generate_series(1, $TARGETS) i;
insert into health_service_state (service_id, next_run_at)
select id, now() + make_interval(secs => interval_seconds * random()) from health_services;
SQL

# CPU seconds (user + system) the process $1 has used so far.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# Probe figures since the timestamp $1: count, failures, lateness p50/p99 (ms), latency p50/p99 (ms),
# and the most probes one service got within one interval.
probe_figures() {
  psql "$DB_URL" -qAt -F '|' <<SQL
select count(*), count(*) filter (where not ok),
       round((percentile_cont(0.5) within group (order by extract(epoch from started_at - scheduled_at) * 1000))::numeric, 1),
       round((percentile_cont(0.99) within group (order by extract(epoch from started_at - scheduled_at) * 1000))::numeric, 1),
       round((percentile_cont(0.5) within group (order by latency_ms))::numeric, 1),
       round((percentile_cont(0.99) within group (order by latency_ms))::numeric, 1),
       (select coalesce(max(n), 0) from (
           select count(*) n from health_probe_results
            where started_at >= '$1'
            group by service_id, floor(extract(epoch from scheduled_at) / $INTERVAL)) per_interval)
  from health_probe_results where started_at >= '$1';
SQL
}

measure() { # $1 = label; sets FIG_* from a window of SECONDS_MEASURED
  local since cpu0 cpu1 cpu2_0=0 cpu2_1=0 samples=() t
  since=$(psql "$DB_URL" -qAt -c "select now()")
  cpu0=$(cpu_seconds "$PORTAL_PID")
  [ -n "$SECOND_PID" ] && cpu2_0=$(cpu_seconds "$SECOND_PID")
  for t in $(seq 1 "$SECONDS_MEASURED"); do
    sleep 1
    samples+=("$(mem_mib VmRSS)")
  done
  cpu1=$(cpu_seconds "$PORTAL_PID")
  [ -n "$SECOND_PID" ] && cpu2_1=$(cpu_seconds "$SECOND_PID")
  FIG_CPU=$(awk -v a="$cpu0" -v b="$cpu1" -v s="$SECONDS_MEASURED" 'BEGIN { printf "%.1f", (b - a) / s * 100 }')
  FIG_CPU2=$(awk -v a="$cpu2_0" -v b="$cpu2_1" -v s="$SECONDS_MEASURED" 'BEGIN { printf "%.1f", (b - a) / s * 100 }')
  FIG_RSS=$(printf '%s\n' "${samples[@]}" | awk '{ s += $1; if ($1 > m) m = $1 } END { printf "%.1f / %.1f", s / NR, m }')
  IFS='|' read -r FIG_N FIG_FAILED FIG_LATE50 FIG_LATE99 FIG_LAT50 FIG_LAT99 FIG_MAXPER < <(probe_figures "$since")
  say "$1: $FIG_N probes ($FIG_FAILED failed), lateness p50 $FIG_LATE50 ms / p99 $FIG_LATE99 ms, CPU $FIG_CPU %"
}

start_portal
say "portal ready after $STARTUP_MS ms; warming up $WARMUP s (the first interval spreads the probes)"
sleep "$WARMUP"
measure "one process"
one=("$FIG_N" "$FIG_FAILED" "$FIG_LATE50" "$FIG_LATE99" "$FIG_LAT50" "$FIG_LAT99" "$FIG_MAXPER" "$FIG_CPU" "$FIG_RSS")
hwm=$(mem_mib VmHWM)

SECOND_PORT=$((PORT + 1))
say "starting a second portal process on 127.0.0.1:$SECOND_PORT (same database)"
# shellcheck disable=SC2086
env -i PATH="$PATH" HOME="${HOME:-/tmp}" DATABASE_URL="$DB_URL" TWISTERLAB_BIND="127.0.0.1:$SECOND_PORT" \
  TWISTERLAB_LOG_FORMAT=json $BENCH_PORTAL_ENV "$BIN" serve >>"$WORK/portal2.log" 2>&1 &
SECOND_PID=$!
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$SECOND_PORT/readyz")" = 200 ]; do
  kill -0 "$SECOND_PID" 2>/dev/null || die "the second portal exited"
  sleep 0.05
done
sleep 5
measure "two processes"
two=("$FIG_N" "$FIG_FAILED" "$FIG_LATE50" "$FIG_LATE99" "$FIG_LAT50" "$FIG_LAT99" "$FIG_MAXPER" "$FIG_CPU" "$FIG_CPU2")
stop_extra
stop_portal

expected=$((TARGETS * SECONDS_MEASURED / INTERVAL))
row() { printf '    %-52s %s\n' "$1" "$2"; }
echo
echo "TwisterLab Ops Portal — probe figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), release build)"
echo "  $TARGETS targets (one demo-target in mode '$DEMO_MODE', /health?i=N) every $INTERVAL s, window $SECONDS_MEASURED s after $WARMUP s warm-up"
echo "  one portal process"
row "probes run (expected ~$expected) / failed" "${one[0]} / ${one[1]}"
row "start lateness p50 / p99 (ms)" "${one[2]} / ${one[3]}"
row "probe latency p50 / p99 (ms)" "${one[4]} / ${one[5]}"
row "most probes of one service in one interval" "${one[6]}"
row "portal CPU (% of one core)" "${one[7]}"
row "portal RSS mean / max over the window (MiB)" "${one[8]}"
row "portal peak RSS (VmHWM, MiB)" "$hwm"
echo "  two portal processes, one database (leases)"
row "probes run (expected ~$expected) / failed" "${two[0]} / ${two[1]}"
row "start lateness p50 / p99 (ms)" "${two[2]} / ${two[3]}"
row "most probes of one service in one interval" "${two[6]}"
row "CPU of process 1 / process 2 (% of one core)" "${two[7]} / ${two[8]}"
