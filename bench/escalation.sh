#!/usr/bin/env bash
# Escalation figures (issue 5, "Measure"): three portal processes on one database fire 1,000
# response-SLA deadlines due at random within one minute — lateness p50 / p99 / max (fired_at
# minus due_at), and how the work spread over the processes; then notification throughput: 5,000
# outbox rows at once to a local webhook receiver (delivered per second, and whether every
# idempotency key arrived exactly once).
# Usage: bench/escalation.sh
# (BENCH_DEADLINES=1000, BENCH_WINDOW=60, BENCH_NOTIFICATIONS=5000, BENCH_PORT=18080 (and the two
# ports after it), BENCH_RECEIVER_PORT=18095, DATABASE_URL, BENCH_NO_BUILD=1 to reuse
# target/release/twisterlab-portal)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DEADLINES=${BENCH_DEADLINES:-1000}
WINDOW=${BENCH_WINDOW:-60}
NOTIFICATIONS=${BENCH_NOTIFICATIONS:-5000}
RECEIVER_PORT=${BENCH_RECEIVER_PORT:-18095}
RECEIVER_PID="" EXTRA_PIDS=()
# No cluster here: keep the Kubernetes worker quiet. Warnings only: logs cost CPU on 2 cores.
BENCH_PORTAL_ENV="${BENCH_PORTAL_ENV:-} TWISTERLAB_KUBE_ENABLED=false TWISTERLAB_LOG=warn"
BENCH_PORTAL_ENV="$BENCH_PORTAL_ENV TWISTERLAB_WEBHOOK_URL=http://127.0.0.1:$RECEIVER_PORT/hook"
BENCH_PORTAL_ENV="$BENCH_PORTAL_ENV TWISTERLAB_WEBHOOK_SECRET=bench-signing-secret-0123456789"

stop_extra() {
  for pid in "${EXTRA_PIDS[@]}" "$RECEIVER_PID"; do
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  EXTRA_PIDS=() RECEIVER_PID=""
}

need python3 python3
setup
trap 'stop_extra; cleanup' EXIT

# The receiver: answers 200 at once, counts requests and distinct Idempotency-Key values.
cat >"$WORK/receiver.py" <<'PY'
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
lock, keys, total = threading.Lock(), set(), [0]
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with lock:
            total[0] += 1
            keys.add(self.headers.get("idempotency-key"))
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def do_GET(self):
        with lock:
            body = json.dumps({"requests": total[0], "distinct": len(keys)}).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
(exec 3<>"/dev/tcp/127.0.0.1/$RECEIVER_PORT") 2>/dev/null && die "127.0.0.1:$RECEIVER_PORT is in use: set BENCH_RECEIVER_PORT"
python3 "$WORK/receiver.py" "$RECEIVER_PORT" >>"$WORK/receiver.log" 2>&1 &
RECEIVER_PID=$!
until curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$RECEIVER_PORT/"; do
  kill -0 "$RECEIVER_PID" 2>/dev/null || die "the receiver exited"
  sleep 0.05
done

q() { psql "$DB_URL" -qAt -v ON_ERROR_STOP=1 "$@"; }
# The seeded health targets do not exist here: their probes would open incidents (and deadlines)
# of their own in the middle of the measurement.
q -c "delete from health_services" >/dev/null 2>&1 || true

say "starting three portal processes on 127.0.0.1:$PORT, :$((PORT + 1)), :$((PORT + 2))"
start_portal
for p in $((PORT + 1)) $((PORT + 2)); do
  # shellcheck disable=SC2086
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" DATABASE_URL="$DB_URL" TWISTERLAB_BIND="127.0.0.1:$p" \
    TWISTERLAB_LOG_FORMAT=json ${BENCH_PORTAL_ENV:-} "$BIN" serve >>"$WORK/portal-$p.log" 2>&1 &
  EXTRA_PIDS+=($!)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$p/readyz")" = 200 ]; do
    kill -0 "${EXTRA_PIDS[-1]}" 2>/dev/null || { tail -20 "$WORK/portal-$p.log" >&2; die "portal on :$p exited"; }
    sleep 0.05
  done
done

until [ "$(q -c "select count(*) from notification_channels where config_key = 'webhook'")" = 1 ]; do sleep 0.1; done

say "$DEADLINES incidents with a response-SLA deadline each, due at random within $WINDOW s (starting in 5 s)"
q >/dev/null <<SQL
insert into incidents (id, title, severity, status, started_at, detected_at, respond_by, escalate_by)
select gen_random_uuid(), 'bench ' || i, 'P1', 'triggered', now(), now(), now() + interval '1 day', now() + interval '1 day'
  from generate_series(1, $DEADLINES) i;
insert into escalation_deadlines (id, incident_id, kind, due_at)
select gen_random_uuid(), id, 'response_sla', clock_timestamp() + interval '5 seconds' + random() * make_interval(secs => $WINDOW)
  from incidents where title like 'bench %';
select pg_notify('twisterlab_deadlines', '');
SQL

deadline=$(( $(date +%s) + WINDOW + 60 ))
BENCH_ROWS="escalation_deadlines d join incidents i on i.id = d.incident_id and i.title like 'bench %' and d.kind = 'response_sla'"
while [ "$(q -c "select count(*) from $BENCH_ROWS where d.state = 'pending'")" != 0 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || die "deadlines still pending $((WINDOW + 60)) s later"
  sleep 1
done
IFS='|' read -r n p50 p99 pmax < <(q -F '|' -c "
  select count(*),
         round((percentile_cont(0.5) within group (order by extract(epoch from fired_at - due_at) * 1000))::numeric, 1),
         round((percentile_cont(0.99) within group (order by extract(epoch from fired_at - due_at) * 1000))::numeric, 1),
         round(max(extract(epoch from fired_at - due_at) * 1000)::numeric, 1)
    from $BENCH_ROWS where d.state = 'done'")
spread=$(q -c "select string_agg(n::text, ' / ' order by n desc) from (select count(*) n from $BENCH_ROWS where d.state = 'done' group by d.fired_by) s")
events=$(q -c "select count(*) from timeline_events where kind = 'sla_breached'")
say "deadlines: $n fired ($events timeline events), lateness p50 $p50 ms / p99 $p99 ms / max $pmax ms"

# Let the SLA notifications the deadlines wrote drain, then measure a burst.
until [ "$(q -c "select count(*) from notifications where state <> 'delivered'")" = 0 ]; do sleep 0.5; done
before=$(curl -s "http://127.0.0.1:$RECEIVER_PORT/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
say "$NOTIFICATIONS notifications at once (5 per incident, spread over the $DEADLINES incidents; in order per incident)"
t0=$(now_ns)
q >/dev/null <<SQL
insert into notifications (id, channel_id, incident_id, event, payload)
select gen_random_uuid(), c.id, i.id, 'status_changed',
       jsonb_build_object('event', 'status_changed', 'at', now()::text, 'from', 'investigating', 'to', 'identified',
         'incident', jsonb_build_object('number', i.number, 'reference', 'INC-' || i.number, 'title', i.title,
           'severity', i.severity, 'status', 'identified', 'commander', null, 'private', false, 'started_at', i.started_at::text))
  from generate_series(1, $NOTIFICATIONS) g
  join (select id, number, title, severity, started_at, row_number() over (order by number) - 1 as k
          from incidents where title like 'bench %') i
    on i.k = g % $DEADLINES
  cross join notification_channels c
 order by g;
select pg_notify('twisterlab_outbox', '');
SQL
# Where the outbox stands: rows per state, most attempts, one last error per state.
outbox_states() {
  q -F ' ' -c "select state, count(*), max(attempts), max(last_error) from notifications group by state order by state" >&2
}
deadline=$(( $(date +%s) + 300 ))
while [ "$(q -c "select count(*) from notifications where state <> 'delivered'")" != 0 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { outbox_states; die "notifications still undelivered after 300 s"; }
  sleep 0.2
done
t1=$(now_ns)
ms=$(((t1 - t0) / 1000000))
rate=$(awk -v n="$NOTIFICATIONS" -v ms="$ms" 'BEGIN { printf "%.0f", n / (ms / 1000) }')
IFS='|' read -r total distinct < <(curl -s "http://127.0.0.1:$RECEIVER_PORT/" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%s|%s" % (d["requests"], d["distinct"]))')
outbox=$(q -c "select count(*) from notifications")
dead=$(q -c "select count(*) from notifications where state = 'dead'")
stop_extra

cat <<TABLE

TwisterLab Ops Portal — escalation figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, release build, 3 processes)
  deadlines fired                                       $n of $DEADLINES (due at random within $WINDOW s)
  lateness (fired_at - due_at) p50 / p99 / max          $p50 / $p99 / $pmax ms
  deadlines fired per process                           $spread
  sla_breached timeline events                          $events
  notification burst                                    $NOTIFICATIONS rows delivered in $ms ms = $rate /s
  receiver: requests / distinct idempotency keys        $((total - before)) in the burst; $total / $distinct overall (outbox rows: $outbox, dead: $dead)
TABLE
