#!/usr/bin/env bash
# Foundation figures (issue 2, "Measure"): time from process start to the first 200 from /readyz
# with migrations already applied, idle resident memory, and /livez throughput and latency at
# 64 connections. Usage: bench/foundation.sh
# (BENCH_RUNS=10, BENCH_WRK_SECONDS=10, BENCH_PORT=18080, DATABASE_URL, BENCH_NO_BUILD=1 to reuse
# target/release/twisterlab-portal)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUNS=${BENCH_RUNS:-10}
WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
setup

starts=() rss=()
for run in $(seq 1 "$RUNS"); do
  start_portal
  ms=$STARTUP_MS
  sleep 2
  mib=$(mem_mib VmRSS)
  say "run $run/$RUNS: /readyz 200 after $ms ms; idle RSS $mib MiB"
  starts+=("$ms") rss+=("$mib")
  if [ "$run" -lt "$RUNS" ]; then stop_portal; fi
done

say "wrk -t2 -c64 -d${WRK_SECONDS}s --latency $BASE/livez (client and portal share the machine)"
wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency "$BASE/livez" >"$WORK/wrk.txt"
IFS='|' read -r rps p50 p99 bad sock < <(wrk_figures "$WORK/wrk.txt")
rss_after=$(mem_mib VmRSS)
hwm=$(mem_mib VmHWM)
stop_portal

cat <<TABLE

TwisterLab Ops Portal — foundation figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, release build)
  start to first /readyz 200 (ms, min / median / max of $RUNS)  $(printf '%s\n' "${starts[@]}" | stats)
  idle RSS after 2 s (MiB, min / median / max of $RUNS)         $(printf '%s\n' "${rss[@]}" | stats)
  /livez at 64 connections (wrk -t2 -c64 -d${WRK_SECONDS}s)
    requests/s                                                $rps
    latency p50 / p99                                         $p50 / $p99
    non-2xx/3xx responses                                     $bad ${sock:+($sock)}
    RSS after the run / peak (MiB)                            $rss_after / $hwm
TABLE
