#!/usr/bin/env bash
# Managers' figures (issue 13, "Measure"), printed, never asserted: the report page (quarter,
# month, week), its JSON and one CSV download, and the escalation list (first page, a filtered
# page, a keyset page far down, and the JSON list) with BENCH_INCIDENTS (100,000) incidents and
# 10 timeline events each (1,000,000), the escalations the deadline engine would have recorded
# (through the escalation trigger, as in production) and their notifications, spread over the
# last 365 days. Target: a quarter's report in at most 200 ms.
# Every figure is the time curl reports for a sequential GET on one keep-alive connection to
# 127.0.0.1 (the server's time plus loopback), after BENCH_WARMUP unmeasured requests: sqlx
# prepares statements per pooled connection and PostgreSQL may switch to a generic plan after
# five executions, so the warm-up covers every connection of the pool.
# Quiet portal: the seeded health services are removed (their hosts do not resolve here), the
# Kubernetes worker is off, the notification channel is disabled and no deadline is pending.
# Usage: bench/managers.sh
# (BENCH_INCIDENTS=100000, BENCH_RUNS=40, BENCH_WARMUP=30, BENCH_PORT=18080, DATABASE_URL,
#  BENCH_NO_BUILD=1 to reuse target/release/twisterlab-portal, BENCH_BINARY=PATH to measure another
#  build such as target/debug/twisterlab-portal, say so beside the figures)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ -n "${BENCH_BINARY:-}" ]; then
  BIN=$BENCH_BINARY
  BENCH_NO_BUILD=1
fi

INCIDENTS=${BENCH_INCIDENTS:-100000}
RUNS=${BENCH_RUNS:-40}
WARMUP=${BENCH_WARMUP:-30}
MANAGER="bench-manager-$$@twisterlab.test"
PASSWORD="bench horse battery staple $$"
BENCH_PORTAL_ENV="${BENCH_PORTAL_ENV:-} TWISTERLAB_KUBE_ENABLED=false TWISTERLAB_LOG=warn"

setup
# Other builds may replace target/release while this runs: every phase uses the same copy.
cp "$BIN" "$WORK/twisterlab-portal"
BUILT=$(date -r "$BIN" '+%F %T')
BIN="$WORK/twisterlab-portal"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average at the start: $load_start ($(nproc) CPUs)"

sql() { psql "$DB_URL" -qAtX -v ON_ERROR_STOP=1 "$@"; }

say "creating $MANAGER (manager) with create-user, and a bearer token"
printf '%s\n' "$PASSWORD" | portal_env "$BIN" create-user --email "$MANAGER" --role manager --password-stdin \
  >"$WORK/create-user.log" 2>&1 || { cat "$WORK/create-user.log" >&2; die "create-user failed"; }
TOKEN=$(portal_env "$BIN" create-token --email "$MANAGER" --name bench 2>"$WORK/create-token.log" | tail -1) \
  || { cat "$WORK/create-token.log" >&2; die "create-token failed"; }
[ -n "$TOKEN" ] || die "create-token printed no token"

# --- The data, in SQL. Per incident (number n, started at random in the last 365 days):
#  declared; the primary paged (one of 20 people); acknowledged 1 to 17.7 minutes later (5% never);
#  past the 15-minute response target (about 1 in 6, and every unacknowledged one): the SLA breach
#  and the secondary paged; never acknowledged: the manager paged at 30 minutes; notes up to 9
#  events; resolved. One notification per page and per breach (mostly delivered, some after
#  retries, some dead) plus the declaration's.
say "seeding $INCIDENTS incidents, $((INCIDENTS * 10)) timeline events, their escalations and notifications"
t0=$(now_ns)
sql <<SQL >/dev/null
delete from health_services;
insert into users (id, email, display_name, role, password_hash)
select gen_random_uuid(), format('oncall-%s-$$@twisterlab.test', lpad(g::text, 2, '0')), 'On-call ' || g, 'responder',
       '\$argon2id\$v=19\$m=19456,t=2,p=1\$bm90LWEtcmVhbC1zYWx0\$bm90LWEtcmVhbC1oYXNoLW5vdC1hLXJlYWwtaGFzaA'
  from generate_series(1, 20) g;
insert into notification_channels (id, kind, name, enabled, url)
values (gen_random_uuid(), 'webhook', 'bench-webhook', false, 'http://127.0.0.1:9/');

insert into incidents (id, title, severity, status, private, started_at, detected_at, acknowledged_at,
                       resolved_at, respond_by, escalate_by)
select gen_random_uuid(), 'Bench incident ' || g, (array['P0', 'P1', 'P2', 'P3'])[1 + g % 4], 'resolved', true,
       s.started, s.started + interval '2 minutes',
       case when g % 20 = 0 then null else s.started + make_interval(secs => 60 + (g * 37) % 1000) end,
       s.started + make_interval(mins => 40 + g % 600),
       s.started + interval '15 minutes', s.started + interval '30 minutes'
  from generate_series(1, $INCIDENTS) g
  -- g * interval '0' ties the subquery to the row, so random() is drawn for every row.
  cross join lateral (select now() - random() * interval '365 days' + g * interval '0' as started) s;

insert into incident_components (incident_id, component_id, impact)
select i.id, c.id, 'partial_outage'
  from incidents i
  join (select id, row_number() over (order by position, name) - 1 as k from components) c
    on c.k = (i.number / 4) % (select count(*) from components);

create temp table people as
select row_number() over (order by email) - 1 as k, id from users where email like 'oncall-%';

create temp table events as
select gen_random_uuid() as id, i.id as incident_id, e.at, e.kind, e.body, e.data
  from (select i.*, coalesce(i.acknowledged_at > i.respond_by, true) as breached,
               (select id from people where k = i.number % 20) as primary_id,
               (select id from people where k = (i.number + 7) % 20) as secondary_id,
               (select id from people where k = (i.number + 13) % 20) as manager_id
          from incidents i) i
  cross join lateral (values
    (1, i.started_at, 'declared', null::text, jsonb_build_object('severity', i.severity)),
    (2, i.started_at + interval '1 second', 'notified', null,
        jsonb_build_object('to', 'primary', 'user_id', i.primary_id, 'channels', jsonb_build_array('bench-webhook'))),
    (3, i.respond_by, case when i.breached then 'sla_breached' else 'note' end, case when i.breached then null else 'Looking' end,
        case when i.breached then jsonb_build_object('deadline', 'response_sla') else '{}' end),
    (4, i.respond_by + interval '1 second', case when i.breached then 'escalated' else 'note' end, null,
        case when i.breached then jsonb_build_object('to', 'secondary', 'user_id', i.secondary_id, 'channels', jsonb_build_array('bench-webhook')) else '{}' end),
    (5, i.escalate_by, case when i.acknowledged_at is null then 'escalated' else 'note' end, null,
        case when i.acknowledged_at is null then jsonb_build_object('to', 'manager', 'user_id', i.manager_id, 'channels', jsonb_build_array('bench-webhook')) else '{}' end),
    (6, coalesce(i.acknowledged_at, i.started_at + interval '31 minutes'), case when i.acknowledged_at is null then 'note' else 'acknowledged' end, null,
        case when i.acknowledged_at is null then '{}' else jsonb_build_object('within_sla', i.acknowledged_at <= i.respond_by) end),
    (7, i.started_at + interval '32 minutes', 'note', 'Found it', '{}'::jsonb),
    (8, i.started_at + interval '35 minutes', 'note', 'Fix deployed', '{}'::jsonb),
    (9, i.started_at + interval '38 minutes', 'note', 'Watching', '{}'::jsonb),
    (10, i.resolved_at, 'resolved', null, jsonb_build_object('duration_seconds', extract(epoch from i.resolved_at - i.started_at)::bigint))
  ) as e (k, at, kind, body, data);
-- The escalation trigger looks up each incident's primary page: with the other events in place
-- and analyzed it takes the incident's index, as it does on a live database.
insert into timeline_events (id, incident_id, at, kind, actor_label, body, data)
select id, incident_id, at, kind, 'bench', body, data from events where kind not in ('escalated', 'sla_breached');
analyze timeline_events;
insert into timeline_events (id, incident_id, at, kind, actor_label, body, data)
select id, incident_id, at, kind, 'bench', body, data from events where kind in ('escalated', 'sla_breached');

insert into notifications (id, channel_id, incident_id, event, payload, state, attempts, next_attempt_at, delivered_at, created_at)
select gen_random_uuid(), (select id from notification_channels where name = 'bench-webhook'), x.incident_id, x.event, x.payload,
       case when x.r < 0.9 then 'delivered' when x.r < 0.97 then 'failed' else 'dead' end,
       case when x.r < 0.8 then 1 when x.r < 0.9 then 2 else 5 end,
       now() + interval '1 year',
       case when x.r < 0.9 then x.at + interval '2 seconds' end, x.at
  from (select e.incident_id, e.fired_at as at, random() as r,
               case when e.kind = 'sla_breach' then 'sla_breached' else 'escalated' end as event,
               case when e.kind = 'sla_breach' then '{}'::jsonb else jsonb_build_object('paged', jsonb_build_object('role', e.level)) end as payload
          from escalations e
        union all
        select i.id, i.started_at, 0.0, 'declared', '{}'::jsonb from incidents i) x;
SQL
sql -c "vacuum analyze incidents" -c "vacuum analyze incident_components" -c "vacuum analyze timeline_events" \
  -c "vacuum analyze escalations" -c "vacuum analyze notifications" -c "vacuum analyze users"
seed_ms=$(( ($(now_ns) - t0) / 1000000 ))
counts=$(sql -c "select (select count(*) from incidents) || ' incidents, ' || (select count(*) from timeline_events)
                   || ' timeline events, ' || (select count(*) from escalations) || ' escalations, '
                   || (select count(*) from notifications) || ' notifications'")
say "seeded (and analyzed) in $seed_ms ms: $counts"
quarter_incidents=$(sql -c "select count(*) from incidents where started_at >= date_trunc('quarter', now())")
# A keyset position far down the escalation list, as the link of page 200 would carry it.
deep_at=$((50 * 200))
far_cursor=$(sql -c "select (extract(epoch from fired_at) * 1000000)::bigint * 1000 || '.' || event_id
                       from escalations order by fired_at desc, event_id desc offset $((deep_at - 1)) limit 1")
[ -n "$far_cursor" ] || die "fewer than $deep_at escalations: no keyset position to measure"

start_portal
say "portal up after $STARTUP_MS ms (pid $PORTAL_PID); signing in as $MANAGER through the form"
curl -s -c "$WORK/jar" -o "$WORK/form.html" "$BASE/login"
csrf=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' "$WORK/form.html" | head -1)
[ -n "$csrf" ] || die "no csrf_token in the sign-in form"
status=$(curl -s -o /dev/null -w '%{http_code}' -b "$WORK/jar" -c "$WORK/jar" -H "Origin: $BASE" \
  --data-urlencode "email=$MANAGER" --data-urlencode "password=$PASSWORD" --data-urlencode "next=/" \
  --data-urlencode "csrf_token=$csrf" "$BASE/login")
[ "$status" = 303 ] || die "signing in answered $status, expected 303"
session=$(awk '$6 == "twisterlab_session" { print $7 }' "$WORK/jar")
[ -n "$session" ] || die "no twisterlab_session cookie after signing in"

# Times $WARMUP + $RUNS GETs of $2 on one connection (curl reuses it for repeated URLs); $1 is
# "page" (session cookie) or "api" (bearer token). Prints "p50|p99|max|bytes" in milliseconds.
timed() {
  local auth=(-b "twisterlab_session=$session") url="$BASE$2" n=$((WARMUP + RUNS)) urls=() i
  [ "$1" = api ] && auth=(-H "Authorization: Bearer $TOKEN")
  status=$(curl -s -o "$WORK/body" -w '%{http_code}' --max-time 60 "${auth[@]}" "$url")
  [ "$status" = 200 ] || die "GET $2 answered $status: $(head -c 300 "$WORK/body")"
  for i in $(seq "$n"); do urls+=(-o /dev/null "$url"); done
  curl -s --max-time 600 "${auth[@]}" -w '%{http_code} %{time_total}\n' "${urls[@]}" >"$WORK/times"
  awk '$1 != 200 { bad++ } END { exit bad > 0 }' "$WORK/times" || die "GET $2 answered other than 200"
  tail -n "$RUNS" "$WORK/times" | awk '{ print $2 * 1000 }' | sort -n | awk -v bytes="$(wc -c <"$WORK/body")" '
    { v[NR] = $1 }
    END {
      p50 = v[int((NR - 1) * 0.5) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
      printf "%.1f|%.1f|%.1f|%s\n", p50, p99, v[NR], bytes
    }'
}

today=$(date -u +%F)
rows=""
measure() { # label, page|api, path
  local figures
  say "GET $3 x $WARMUP unmeasured + $RUNS"
  figures=$(timed "$2" "$3")
  rows+=$(printf '%s|%s|%s' "$1" "$3" "$figures")$'\n'
}
measure "report page, quarter" page "/reports?kind=quarter&date=$today"
measure "report page, month" page "/reports?kind=month&date=$today"
measure "report page, week" page "/reports?kind=week&date=$today"
measure "report page, quarter, P1 only" page "/reports?kind=quarter&date=$today&severity=P1"
measure "report JSON, quarter" api "/api/v1/reports?kind=quarter&date=$today"
measure "report CSV (severity), quarter" page "/reports/severity.csv?kind=quarter&date=$today"
measure "escalations, first page" page "/escalations"
measure "escalations, unreviewed P1" page "/escalations?severity=P1&reviewed=no"
measure "escalations, keyset page at row $deep_at" page "/escalations?after=$far_cursor"
measure "escalations JSON, first page" api "/api/v1/escalations"
measure "escalations JSON, keyset page at row $deep_at" api "/api/v1/escalations?after=$far_cursor"
rss=$(mem_mib VmHWM)
stop_portal
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

cat <<EOF

Managers' pages — $(date -u '+%F %H:%M UTC'), ${BENCH_BINARY:-release build} of $BUILT
  data: $counts (seeded and analyzed in $seed_ms ms); $quarter_incidents incidents in this quarter
  load average: $load_start at the start, $load_end at the end ($(nproc) CPUs)
  $WARMUP unmeasured + $RUNS measured sequential GETs each; milliseconds as curl saw them on 127.0.0.1

$(printf '%-46s %8s %8s %8s %9s\n' "" "p50" "p99" "max" "bytes")
$(printf '%s' "$rows" | awk -F'|' '{ printf "%-46s %8s %8s %8s %9s\n", $1, $3, $4, $5, $6 }')
  portal peak RSS (VmHWM): $rss MiB
EOF
