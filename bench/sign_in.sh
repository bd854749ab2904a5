#!/usr/bin/env bash
# Sign-in figures (issue 3, "Measure"): POST /login with the right password from 8 concurrent
# connections for ~15 s; sign-ins/s, latency p50/p99 and the portal's memory, so the cost of
# argon2id (19 MiB, t=2, p=1) per sign-in is known. Successful sign-ins are never throttled.
# Usage: bench/sign_in.sh   (BENCH_SECONDS=15, BENCH_PORT=18080, DATABASE_URL, BENCH_NO_BUILD=1)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SECONDS_RUN=${BENCH_SECONDS:-15}
EMAIL="bench-$$@twisterlab.test"
PASSWORD="bench horse battery staple $$"
setup

say "creating $EMAIL with create-user"
printf '%s\n' "$PASSWORD" | portal_env "$BIN" create-user --email "$EMAIL" --role viewer --password-stdin \
  >"$WORK/create-user.log" 2>&1 || { cat "$WORK/create-user.log" >&2; die "create-user failed"; }

start_portal
say "portal up after $STARTUP_MS ms (pid $PORTAL_PID)"
sleep 2
idle_rss=$(mem_mib VmRSS)

# The sign-in form's double-submit pair: the cookie and the hidden field carry the same token.
curl -s -c "$WORK/jar" -o "$WORK/form.html" "$BASE/login"
token=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' "$WORK/form.html" | head -1)
cookie=$(awk '$6 == "twisterlab_login" { print $7 }' "$WORK/jar")
[ -n "$token" ] && [ "$token" = "$cookie" ] || die "no double-submit pair in the sign-in form"

# One sign-in by hand first: it must succeed, or the figures would measure failures.
status=$(curl -s -o /dev/null -w '%{http_code}' -b "twisterlab_login=$token" -H "Origin: $BASE" \
  --data-urlencode "email=$EMAIL" --data-urlencode "password=$PASSWORD" --data-urlencode "next=/" \
  --data-urlencode "csrf_token=$token" "$BASE/login")
[ "$status" = 303 ] || die "a single sign-in answered $status, expected 303"

# Sample the resident memory while wrk runs.
(
  while kill -0 "$PORTAL_PID" 2>/dev/null; do
    awk '$1 == "VmRSS:" { print $2 }' "/proc/$PORTAL_PID/status" 2>/dev/null || true
    sleep 0.2
  done
) >"$WORK/rss.samples" &
SAMPLER=$!

say "wrk -t2 -c8 -d${SECONDS_RUN}s --latency -s bench/sign_in.lua $BASE/login"
BENCH_LOGIN_TOKEN=$token BENCH_ORIGIN=$BASE BENCH_EMAIL=$EMAIL BENCH_PASSWORD=$PASSWORD \
  wrk -t2 -c8 -d"${SECONDS_RUN}s" --timeout 10s --latency -s "$ROOT/bench/sign_in.lua" "$BASE/login" \
  >"$WORK/wrk.txt"
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
IFS='|' read -r rps p50 p99 bad sock < <(wrk_figures "$WORK/wrk.txt")
hwm=$(mem_mib VmHWM)
after_rss=$(mem_mib VmRSS)
run_rss=$(awk 'NF { s += $1; n++; if ($1 > m) m = $1 } END { if (n) printf "%.1f / %.1f", s / n / 1024, m / 1024 }' "$WORK/rss.samples")
sessions=$(psql "$DB_URL" -qAtc "select count(*) from sessions")
failed=$(psql "$DB_URL" -qAtc "select count(*) from audit_log where action like 'auth.sign_in_%'")
stop_portal

cat <<TABLE

TwisterLab Ops Portal — sign-in figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, release build)
  POST /login, right password, 8 connections (wrk -t2 -c8 -d${SECONDS_RUN}s; client on the same machine)
    sign-ins/s                                     $rps
    latency p50 / p99                              $p50 / $p99
    non-2xx/3xx responses                          $bad ${sock:+($sock)}
    sessions created / failed or locked sign-ins   $sessions / $failed
  portal memory (MiB)
    idle RSS before the run                        $idle_rss
    RSS during the run (mean / max of samples)     $run_rss
    RSS after the run                              $after_rss
    peak RSS (VmHWM)                               $hwm
TABLE
