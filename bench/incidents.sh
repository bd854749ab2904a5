#!/usr/bin/env bash
# Incident figures (issue 4, "Measure"), printed, never asserted:
#  1. declare + acknowledge + note + resolve through the JSON API (bearer token of a commander)
#     from 32 concurrent clients for ~20 s: flows/s, errors, p50/p99 per step and per flow;
#  2. render time of an incident page with 5,000 timeline events (seeded with SQL), signed in as
#     a viewer: p50/p99 over 50 sequential GETs, and the page size;
#  3. list page latency with 100,000 incidents (seeded with one insert … select): first page, a
#     filtered page, text searches, a page reached through "Next page" links and one far down the
#     list; p50/p99 over 30 sequential GETs each;
#  4. the flow of 1. again with the 100,000 incidents in the table (every declare and resolve of a
#     public incident makes the status page worker rebuild, and that rebuild reads every incident).
# Plan caching: PostgreSQL plans a prepared statement afresh for its first five executions on a
# connection and may then switch to a generic plan. sqlx prepares statements per connection and
# the pool hands sequential requests round its (up to 10) idle connections, so each page is first
# requested BENCH_WARMUP (70) times unmeasured — enough for more than 6 executions on every pooled
# connection — and p50/p99 come from the requests after that; the median of the first 6 requests
# is shown beside them.
# Quiet portal: the seeded health services (hosts that do not resolve here) are removed, or the
# health overview would declare incidents mid-run; the Kubernetes worker is off; and every
# measurement waits for the status page worker's start-up rebuild to finish (the portal logs
# each rebuild's duration at debug level for twisterlab_server::status_page, reported below).
# Usage: bench/incidents.sh
# (BENCH_CLIENTS=32, BENCH_SECONDS=20, BENCH_EVENTS=5000, BENCH_PAGE_RUNS=50, BENCH_INCIDENTS=100000,
#  BENCH_LIST_RUNS=30, BENCH_WARMUP=70, BENCH_HOPS=5, BENCH_PORT=18080, DATABASE_URL,
#  BENCH_NO_BUILD=1 to reuse target/release/twisterlab-portal, BENCH_PORTAL_ENV for extra
#  NAME=VALUE words, BENCH_SERIES=FILE to append every request's milliseconds of 2. and 3.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CLIENTS=${BENCH_CLIENTS:-32}
FLOW_SECONDS=${BENCH_SECONDS:-20}
EVENTS=${BENCH_EVENTS:-5000}
PAGE_RUNS=${BENCH_PAGE_RUNS:-50}
INCIDENTS=${BENCH_INCIDENTS:-100000}
LIST_RUNS=${BENCH_LIST_RUNS:-30}
WARMUP=${BENCH_WARMUP:-70}
HOPS=${BENCH_HOPS:-5}
SERIES=${BENCH_SERIES:-}
COMMANDER="bench-commander-$$@twisterlab.test"
VIEWER="bench-viewer-$$@twisterlab.test"
PASSWORD="bench horse battery staple $$"
LOAD=(python3 "$ROOT/bench/incidents_load.py")
# No cluster here: keep the Kubernetes worker quiet; log the status page rebuilds' durations.
BENCH_PORTAL_ENV="${BENCH_PORTAL_ENV:-} TWISTERLAB_KUBE_ENABLED=false"
BENCH_PORTAL_ENV="$BENCH_PORTAL_ENV TWISTERLAB_LOG=info,twisterlab_server::status_page=debug"

need python3 python3
setup
# Other builds may replace target/release while this runs: every phase uses the same copy.
cp "$BIN" "$WORK/twisterlab-portal"
BUILT=$(date -r "$BIN" '+%F %T')
BIN="$WORK/twisterlab-portal"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average at the start: $load_start ($(nproc) CPUs)"

sql() { psql "$DB_URL" -qAtX -v ON_ERROR_STOP=1 "$@"; }

say "removing the seeded health services (their hosts do not resolve here)"
sql -c "delete from health_services" >/dev/null
for who in "$COMMANDER commander" "$VIEWER viewer"; do
  read -r email role <<<"$who"
  say "creating $email ($role) with create-user"
  printf '%s\n' "$PASSWORD" | portal_env "$BIN" create-user --email "$email" --role "$role" --password-stdin \
    >"$WORK/create-user.log" 2>&1 || { cat "$WORK/create-user.log" >&2; die "create-user failed"; }
done
say "creating a bearer token for $COMMANDER with create-token"
TOKEN=$(portal_env "$BIN" create-token --email "$COMMANDER" --name bench 2>"$WORK/create-token.log" | tail -1) \
  || { cat "$WORK/create-token.log" >&2; die "create-token failed"; }
[ -n "$TOKEN" ] || die "create-token printed no token"
export BENCH_TOKEN=$TOKEN

# Busy and total jiffies of the whole machine, and the portal's own CPU jiffies.
HZ=$(getconf CLK_TCK)
machine_jiffies() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
portal_jiffies() { awk '{ print $14 + $15 }' "/proc/$PORTAL_PID/stat"; }

# Status page rebuilds logged so far (portal.log collects every start), and the durations in ms
# of those after the first $1.
rebuilds() {
  local n
  n=$(grep -c '"status page rebuilt"' "$WORK/portal.log" 2>/dev/null) || true
  echo "${n:-0}"
}
rebuild_ms_after() {
  { grep '"status page rebuilt"' "$WORK/portal.log" || true; } | tail -n +$(($1 + 1)) \
    | sed -n 's/.*"elapsed_ms":\([0-9]*\).*/\1/p' | paste -sd' ' -
}
# Starts the portal and waits (at most 180 s) for the status page worker's start-up rebuild.
start_quiet() {
  local before i=0
  before=$(rebuilds)
  start_portal
  say "portal up after $STARTUP_MS ms (pid $PORTAL_PID); waiting for the status page's start-up rebuild"
  until [ "$(rebuilds)" -gt "$before" ]; do
    kill -0 "$PORTAL_PID" 2>/dev/null || die "the portal exited"
    i=$((i + 1))
    [ "$i" -lt 1800 ] || die "no status page rebuild within 180 s"
    sleep 0.1
  done
  STARTUP_REBUILD_MS=$(rebuild_ms_after "$before")
  say "start-up rebuild took $STARTUP_REBUILD_MS ms"
}

# Runs the flow load; sets FLOW_* figures. $1 names the output file.
run_flows() {
  local busy0 total0 busy1 total1 pj0 pj1 r0
  read -r busy0 total0 < <(machine_jiffies)
  pj0=$(portal_jiffies)
  r0=$(rebuilds)
  say "$CLIENTS clients: declare + acknowledge + note + resolve through /api/v1 for ${FLOW_SECONDS} s"
  "${LOAD[@]}" flows --port "$PORT" --clients "$CLIENTS" --seconds "$FLOW_SECONDS" >"$WORK/$1" \
    || die "the flow load failed"
  read -r busy1 total1 < <(machine_jiffies)
  pj1=$(portal_jiffies)
  FLOW_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
  FLOW_BUSY=$(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.0f", 100 * b / t }')
  FLOW_CPU=$(awk -v j=$((pj1 - pj0)) -v hz="$HZ" 'BEGIN { printf "%.1f", j / hz }')
  FLOW_REBUILDS=$(($(rebuilds) - r0))
  FLOW_REBUILD_MS=$(rebuild_ms_after "$r0" | awk '{ n = split($0, v, " "); if (!n) { print "none"; exit }
    s = 0; m = 0; for (i = 1; i <= n; i++) { s += v[i]; if (v[i] + 0 > m) m = v[i] + 0 }
    printf "mean %.0f ms, max %d ms", s / n, m }')
  FLOW_RSS=$(mem_mib VmHWM)
  FLOW_COUNTS=$(sql -c "select count(*) filter (where status = 'resolved') || ' resolved of ' || count(*) from incidents")
  say "flows done: $FLOW_COUNTS incidents; load average $FLOW_LOAD"
}

flow_table() { # $1 output file
  sed 's/^/    /' "$WORK/$1"
  cat <<ROWS
    machine CPU busy during the run              ${FLOW_BUSY}%
    portal CPU during the run                    $FLOW_CPU s
    status page rebuilds during the run          $FLOW_REBUILDS ($FLOW_REBUILD_MS)
    portal peak RSS (VmHWM)                      $FLOW_RSS MiB
    load average after the run                   $FLOW_LOAD
    incidents in the table afterwards            $FLOW_COUNTS
ROWS
}

timed() { "${LOAD[@]}" timed --port "$PORT" ${SERIES:+--series "$SERIES"} --warmup "$WARMUP" "$@"; }

# --- 1. The flow through the JSON API.
start_quiet
run_flows flows.txt
flows1=$(flow_table flows.txt)
stop_portal

# --- 2. One incident with $EVENTS timeline events.
say "declaring the incident for the long timeline"
start_quiet
number=$(curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"title":"Bench: incident with a long timeline","severity":"P2"}' "$BASE/api/v1/incidents" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["number"])') || die "declaring the incident failed"
stop_portal
t0=$(now_ns)
sql -c "insert into timeline_events (id, incident_id, kind, actor_label, body, data)
        select gen_random_uuid(), (select id from incidents where number = $number), 'note', 'bench', '**note** ' || g, '{}'
          from generate_series(1, $EVENTS) g" \
  -c "analyze timeline_events"
say "seeded $EVENTS notes on INC-$number in $(( ($(now_ns) - t0) / 1000000 )) ms"

start_quiet
say "signing in as $VIEWER through the form"
curl -s -c "$WORK/jar" -o "$WORK/form.html" "$BASE/login"
csrf=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' "$WORK/form.html" | head -1)
[ -n "$csrf" ] || die "no csrf_token in the sign-in form"
status=$(curl -s -o /dev/null -w '%{http_code}' -b "$WORK/jar" -c "$WORK/jar" -H "Origin: $BASE" \
  --data-urlencode "email=$VIEWER" --data-urlencode "password=$PASSWORD" --data-urlencode "next=/" \
  --data-urlencode "csrf_token=$csrf" "$BASE/login")
[ "$status" = 303 ] || die "signing in answered $status, expected 303"
session=$(awk '$6 == "twisterlab_session" { print $7 }' "$WORK/jar")
[ -n "$session" ] || die "no twisterlab_session cookie after signing in"
export BENCH_COOKIE="twisterlab_session=$session"

page_gzip=$(curl -s --max-time 60 -b "$BENCH_COOKIE" -H 'Accept-Encoding: gzip' "$BASE/incidents/$number" | wc -c)
say "GET /incidents/$number x $WARMUP unmeasured + $PAGE_RUNS, one after another"
r0=$(rebuilds)
timed --runs "$PAGE_RUNS" --expect "<strong>note</strong> $EVENTS" \
  "incident page, $EVENTS events=/incidents/$number" >"$WORK/page.txt" || die "timing the incident page failed"
page_rebuilds=$(($(rebuilds) - r0))
page_conns=$(psql "$ADMIN_URL" -qAtc "select count(*) from pg_stat_activity where datname = '$DB_NAME' and backend_type = 'client backend'")
page_rss=$(mem_mib VmHWM)
stop_portal

# --- 3. The list with $INCIDENTS incidents.
say "seeding $INCIDENTS incidents with one insert … select (2% open, the rest resolved, over 90 days)"
t0=$(now_ns)
sql -c "insert into incidents (id, title, summary, severity, status, started_at, detected_at, acknowledged_at,
                               resolved_at, respond_by, escalate_by, labels)
        select gen_random_uuid(),
               format('%s in %s (batch %s)',
                      (array['Elevated error rate', 'Latency spike', 'Partial outage', 'Degraded throughput',
                             'Failed deploys', 'Certificate expiry', 'Disk pressure'])[1 + g % 7],
                      (array['API', 'MCP tools', 'Agents', 'LLM backend', 'Database', 'Cache', 'Webhooks',
                             'Search', 'Billing', 'Auth'])[1 + (g / 7) % 10], g),
               case when g % 1000 = 0 then 'Root cause: a kernel panic on one node after the upgrade.' else '' end,
               (array['P0', 'P1', 'P2', 'P3'])[1 + (g / 3) % 4],
               case when g % 50 = 0
                    then (array['triggered', 'acknowledged', 'investigating', 'identified', 'monitoring'])[1 + (g / 50) % 5]
                    else 'resolved' end,
               s.started, s.started + interval '2 minutes',
               case when g % 50 = 0 and (g / 50) % 5 = 0 then null else s.started + interval '9 minutes' end,
               case when g % 50 = 0 then null else s.started + make_interval(mins => 30 + g % 600) end,
               s.started + interval '1 hour', s.started + interval '3 hours',
               case when g % 3 = 0 then '{customer-facing}'::text[] else '{}' end
          from generate_series(1, $INCIDENTS) g
         -- g * interval '0' ties the subquery to the row, so random() is drawn for every row.
         cross join lateral (select now() - random() * interval '90 days' + g * interval '0' as started) s" \
  -c "vacuum analyze incidents"
seed_ms=$(( ($(now_ns) - t0) / 1000000 ))
say "seeded (and analyzed) in $seed_ms ms: $(sql -c "select count(*) from incidents") incidents"
# A position far down the list, as if ~1,800 "Next page" links had been followed.
deep_at=$((INCIDENTS * 9 / 10))
far_cursor=$(sql -c "select case when status = 'resolved' then 1 else 0 end || '.'
                            || ((extract(epoch from started_at) * 1000000)::bigint * 1000) || '.' || number
                       from incidents order by (status = 'resolved'), started_at desc, number desc
                      offset $((deep_at - 1)) limit 1")

start_quiet
list_startup_rebuild=$STARTUP_REBUILD_MS
status_bytes=$(curl -s --max-time 30 -H "Host: status.twisterlab.local" "$BASE/" | wc -c)
say "following \"Next page\" $HOPS times from /incidents"
deep_path=$("${LOAD[@]}" next --port "$PORT" --hops "$HOPS" /incidents) || die "following the Next page links failed"
say "GET of each list page x $WARMUP unmeasured + $LIST_RUNS, one after another"
r0=$(rebuilds)
t0=$(now_ns)
timed --runs "$LIST_RUNS" \
  "first page=/incidents" \
  "filtered=/incidents?status=resolved&severity=P2" \
  "text, common word (10%)=/incidents?q=database" \
  "text, rare word (0.1%)=/incidents?q=kernel" \
  "text and filter=/incidents?q=latency&status=resolved&severity=P1" \
  "after $HOPS Next page links=$deep_path" \
  "cursor at row $deep_at=/incidents?after=$far_cursor" \
  >"$WORK/list.txt" || die "timing the list pages failed"
list_s=$(( ($(now_ns) - t0) / 1000000000 ))
list_rebuilds=$(($(rebuilds) - r0))
list_conns=$(psql "$ADMIN_URL" -qAtc "select count(*) from pg_stat_activity where datname = '$DB_NAME' and backend_type = 'client backend'")
list_rss=$(mem_mib VmHWM)

# --- 4. The flow again, now with $INCIDENTS incidents in the table.
run_flows flows-full.txt
flows4=$(flow_table flows-full.txt)
stop_portal
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
# sqlx warns about statements over 1 s: how long each took and how it starts.
slow=$(python3 - "$WORK/portal.log" <<'PY'
import json, re, sys
for line in open(sys.argv[1], errors="replace"):
    if "slow statement" not in line:
        continue
    try:
        e = json.loads(line)
    except ValueError:
        continue
    sql = re.sub(r"\s+", " ", str(e.get("db.statement", e.get("summary", "")))).strip()
    print(f"    {e.get('timestamp', '')[11:19]} {e.get('elapsed', e.get('elapsed_secs', '?'))}: {sql[:150]}")
PY
)

table_rows() { # label, path, first, median of requests 1-6, p50, p99, mean, bytes
  awk -F'|' '{ printf "| %s | `%s` | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$1"
}

cat <<TABLE

TwisterLab Ops Portal — incident figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, release build of $BUILT)
  load average (1/5/15 min): $load_start at the start, $load_end at the end
  client, portal and PostgreSQL share the machine

1. declare + acknowledge + note + resolve, /api/v1 with a commander's bearer token,
   $CLIENTS clients on keep-alive connections for ${FLOW_SECONDS} s (bench/incidents_load.py flows)
$flows1

2. GET /incidents/$number with $EVENTS notes (viewer session), $PAGE_RUNS sequential GETs after $WARMUP unmeasured
| page | path | first | median of first 6 | p50 | p99 | mean | bytes |
|---|---|---:|---:|---:|---:|---:|---:|
$(table_rows "$WORK/page.txt")
    gzip-encoded size: $page_gzip bytes; pool connections open afterwards: $page_conns; portal peak RSS $page_rss MiB
    status page rebuilds during the requests: $page_rebuilds

3. list pages with $INCIDENTS seeded incidents (+ the flows' ones), $LIST_RUNS sequential GETs each after $WARMUP unmeasured
   (seeded and analyzed in $seed_ms ms; pool connections open afterwards: $list_conns; portal peak RSS $list_rss MiB)
| page | path | first | median of first 6 | p50 | p99 | mean | bytes |
|---|---|---:|---:|---:|---:|---:|---:|
$(table_rows "$WORK/list.txt")
    (nearest-rank p99: with fewer than 100 requests it is the slowest one)
    status page start-up rebuild with these incidents: $list_startup_rebuild ms (page $status_bytes bytes);
    status page rebuilds during the $list_s s of list requests: $list_rebuilds

4. the flow of 1. again, with the $INCIDENTS incidents in the table
$flows4

  slow-statement warnings in the portal log (over 1 s): $(printf '%s\n' "$slow" | grep -c . || true)
$slow
TABLE
