#!/usr/bin/env bash
# Status page rebuild at scale (issue 16, "Measure"): fills a throw-away database with 1,000, then
# 10,000, then 100,000 public incidents (SQL generate_series: most resolved over the last two
# years with three public events each, 10 % private, 5 open) and prints, at each size, the
# rebuild time (the portal's own "status page rebuilt" log line, `elapsed_ms`: reading the
# snapshot, rolling up, rendering and compressing every eager document) over BENCH_REBUILDS
# rebuilds woken by `NOTIFY twisterlab_status`, and the size of the documents it serves.
# Usage: bench/status_rebuild.sh
# (BENCH_REBUILDS=10, BENCH_SIZES="1000 10000 100000", BENCH_PORT=18093, DATABASE_URL,
#  BENCH_NO_BUILD=1 to reuse target/release/twisterlab-portal)
set -euo pipefail
BENCH_PORT=${BENCH_PORT:-18093}
. "$(dirname "$0")/lib.sh"

REBUILDS=${BENCH_REBUILDS:-10}
SIZES=${BENCH_SIZES:-"1000 10000 100000"}
STATUS_HOST=status.twisterlab.local

setup
BENCH_PORTAL_ENV="TWISTERLAB_LOG=info,twisterlab_server::status_page=debug ${BENCH_PORTAL_ENV:-}"
start_portal
say "portal ready in ${STARTUP_MS} ms; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

page() { curl -s --max-time 10 -H "Host: $STATUS_HOST" "$@"; }
size_of() { page "$@" | wc -c; }
rebuilt_count() { grep -c '"status page rebuilt"\|status page rebuilt' "$WORK/portal.log" || true; }

# Adds public incidents until there are $1 in all (numbered on from what exists).
fill_to() {
  psql "$DB_URL" -qAt -v ON_ERROR_STOP=1 -v target="$1" >/dev/null <<'SQL'
select count(*) as have from incidents \gset
insert into incidents (id, title, severity, status, private, started_at, detected_at, resolved_at, respond_by, escalate_by)
  select gen_random_uuid(), 'Bench incident ' || g, (array['P0','P1','P2','P3'])[1 + g % 4], 'resolved', g % 10 = 0,
         now() - make_interval(secs => (g * 7919) % (730 * 86400)) - interval '1 hour',
         now() - make_interval(secs => (g * 7919) % (730 * 86400)) - interval '1 hour',
         now() - make_interval(secs => (g * 7919) % (730 * 86400)), now(), now()
    from generate_series(:have + 1, :target) g;
insert into timeline_events (id, incident_id, at, kind, actor_label, body, public, public_status)
  select gen_random_uuid(), i.id, i.started_at + make_interval(mins => k * 15),
         case k when 3 then 'resolved' else 'public_update' end, 'bench',
         case k when 3 then null else format('Update %s on %s: we are looking into elevated error rates and will post again within 30 minutes.', k, i.title) end,
         k <> 3, case k when 1 then 'investigating' when 2 then 'monitoring' end
    from incidents i cross join generate_series(1, 3) k
   where i.title like 'Bench incident %' and not exists (select 1 from timeline_events e where e.incident_id = i.id);
-- Five open public incidents whatever the size (the page always shows them).
update incidents set status = 'investigating', resolved_at = null
 where id in (select id from incidents where not private and title like 'Bench incident %' and status = 'resolved'
               order by number limit greatest(0, 5 - (select count(*) from incidents where status <> 'resolved')));
analyze incidents;
analyze timeline_events;
SQL
}

printf '\n%-8s | %-24s | %-10s | %-12s | %-12s | %-12s | %s\n' incidents "rebuild ms min/med/max" "page B" "page gzip B" "incidents.json B" "history B" "load avg"
for n in $SIZES; do
  say "filling to $n incidents"
  fill_to "$n"
  # Let the notifications of the fill (none: it went around the portal) and any rebuild settle.
  before=$(rebuilt_count)
  for _ in $(seq 1 "$REBUILDS"); do
    psql "$DB_URL" -qAtc "select pg_notify('twisterlab_status', '')" >/dev/null
    # One rebuild per notification: wait for its log line (the debounce folds closer ones).
    want=$(( $(rebuilt_count) + 1 ))
    for _ in $(seq 1 400); do
      [ "$(rebuilt_count)" -ge "$want" ] && break
      sleep 0.025
    done
  done
  ms=$(grep 'status page rebuilt' "$WORK/portal.log" | tail -n +"$((before + 1))" \
    | grep -o '"elapsed_ms":[0-9]*' | cut -d: -f2 | stats)
  plain=$(size_of "$BASE/")
  gz=$(size_of -H 'Accept-Encoding: gzip' "$BASE/")
  json=$(size_of "$BASE/api/v2/incidents.json")
  history=$(size_of "$BASE/history")
  printf '%-8s | %-24s | %-10s | %-12s | %-12s | %-12s | %s\n' "$n" "$ms" "$plain" "$gz" "$json" "$history" "$(cut -d' ' -f1-3 /proc/loadavg)"
done
