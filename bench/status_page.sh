#!/usr/bin/env bash
# Status page figures (issue 6, "Measure"): the public status page under load beside nginx
# serving the same bytes as a static file, with and without gzip and with a random query
# string on every request; the portal's resident memory during the runs; and the freshness
# lag of 100 public updates posted through the JSON API (`POST /api/v1/incidents/{n}/events`
# with a commander's token) while load runs.
# Usage: bench/status_page.sh
# (BENCH_WRK_SECONDS=8, BENCH_PORT=18091, BENCH_NGINX_PORT=18092, BENCH_UPDATES=100,
#  DATABASE_URL, BENCH_NO_BUILD=1 to reuse target/release/twisterlab-portal, BENCH_KEEP_LOG=1 to
#  keep the portal's log, BENCH_PORTAL_ENV="TWISTERLAB_LOG=info,twisterlab_server::status_page=debug"
#  to see each rebuild's duration in it)
set -euo pipefail
BENCH_PORT=${BENCH_PORT:-18091}
. "$(dirname "$0")/lib.sh"

WRK_SECONDS=${BENCH_WRK_SECONDS:-8}
NGINX_PORT=${BENCH_NGINX_PORT:-18092}
UPDATES=${BENCH_UPDATES:-100}
STATUS_HOST=status.twisterlab.local
NGINX_DIR=""
NGINX_PID=""
SAMPLER_PID=""

status_cleanup() {
  local code=$?
  if { [ "$code" != 0 ] || [ "${BENCH_KEEP_LOG:-0}" = 1 ]; } && [ -f "$WORK/portal.log" ]; then
    cp "$WORK/portal.log" "${TMPDIR:-/tmp}/status_page_bench_portal.log"
    say "the portal's log is kept in ${TMPDIR:-/tmp}/status_page_bench_portal.log"
  fi
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  if [ -n "$NGINX_PID" ]; then
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NGINX_PID" 2>/dev/null || true
  fi
  [ -n "$NGINX_DIR" ] && rm -rf "$NGINX_DIR"
  cleanup
}

need nginx nginx
setup
trap status_cleanup EXIT

# --- Seed: 10 components, 3 active incidents with 20 public updates each, 90 days of history.
say "seeding 10 components, 3 active incidents with 20 public updates each, 90 days of status history"
psql "$DB_URL" -qAt -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
insert into components (id, group_id, name, description, description_public, position) values
  (gen_random_uuid(), '0193a000-0000-7000-8000-000000000001', 'Web app', 'The TwisterLab web application', true, 5),
  (gen_random_uuid(), '0193a000-0000-7000-8000-000000000001', 'Webhooks', 'Outbound webhooks', true, 6),
  (gen_random_uuid(), '0193a000-0000-7000-8000-000000000002', 'Search', 'Full-text search', true, 3),
  (gen_random_uuid(), '0193a000-0000-7000-8000-000000000002', 'Object storage', 'Uploads and exports', true, 4);
-- 90 days of history: operational, with a few outages of a few hours on some days.
insert into component_status_history (component_id, status, at)
  select id, 'operational', now() - interval '91 days' from components;
insert into component_status_history (component_id, status, at)
  select c.id, s.status, s.at
    from components c
   cross join lateral (
     select d, (array['degraded_performance','partial_outage','major_outage'])[1 + (d % 3)] as status,
            date_trunc('day', now()) - make_interval(days => d) + make_interval(hours => 3 + d % 12) as at
       from generate_series(2, 88) d
      where (d * 7 + ascii(c.name)) % 11 = 0) s
  union all
  select c.id, 'operational', date_trunc('day', now()) - make_interval(days => d) + make_interval(hours => 5 + d % 12)
    from components c cross join generate_series(2, 88) d
   where (d * 7 + ascii(c.name)) % 11 = 0;
-- Three active public incidents with 20 public updates each.
do $$
declare
  inc uuid;
  titles text[] := array['Elevated API error rates', 'Agents are slow to start', 'Search results are delayed'];
  comps uuid[] := array['0193a000-0000-7000-8000-000000000011'::uuid, '0193a000-0000-7000-8000-000000000013'::uuid, '0193a000-0000-7000-8000-000000000012'::uuid];
  impacts text[] := array['partial_outage', 'degraded_performance', 'degraded_performance'];
  statuses text[] := array['investigating', 'identified', 'monitoring'];
begin
  for i in 1..3 loop
    inc := gen_random_uuid();
    insert into incidents (id, title, severity, status, started_at, detected_at, respond_by, escalate_by)
      values (inc, titles[i], 'P1', statuses[i], now() - interval '3 hours', now() - interval '3 hours', now() + interval '1 day', now() + interval '1 day');
    insert into incident_components (incident_id, component_id, impact) values (inc, comps[i], impacts[i]);
    for u in 1..20 loop
      insert into timeline_events (id, incident_id, at, kind, actor_label, body, public, public_status)
        values (gen_random_uuid(), inc, now() - interval '3 hours' + make_interval(mins => u * 8), 'public_update', 'bench',
                format('Update %s: we are working on **%s**. The next update follows within 30 minutes; '
                       'affected customers may see retries and slower responses until then.', u, titles[i]),
                true, statuses[1 + (u % 3)]);
    end loop;
  end loop;
end $$;
SQL
say "maintenance windows: none seeded (the maintenance area does not exist yet)"

start_portal
page() { curl -s --max-time 5 -H "Host: $STATUS_HOST" "$@"; }
for _ in $(seq 1 200); do
  [ "$(page -o /dev/null -w '%{http_code}' "$BASE/")" = 200 ] && break
  sleep 0.05
done
page "$BASE/" -o "$WORK/status.html"
page -H 'Accept-Encoding: gzip' "$BASE/" -o "$WORK/status.html.gz"
page -H 'Accept-Encoding: br' "$BASE/" -o "$WORK/status.html.br"
grep -q 'Partial system outage' "$WORK/status.html" || die "the seeded page does not show the incidents"
css_path=$(grep -o -m1 '/static/status\.[0-9a-f]*\.css' "$WORK/status.html")
css_gz=$(page -H 'Accept-Encoding: gzip' "$BASE$css_path" | wc -c)
icon_path=$(grep -o -m1 '/static/icon\.[0-9a-f]*\.svg' "$WORK/status.html" | sed -n 1p)
icon_gz=$(page -H 'Accept-Encoding: gzip' "$BASE$icon_path" | wc -c)
size_plain=$(wc -c <"$WORK/status.html") size_gz=$(wc -c <"$WORK/status.html.gz") size_br=$(wc -c <"$WORK/status.html.br")
say "page: $size_plain bytes, gzip $size_gz, br $size_br; stylesheet $css_gz and icon $icon_gz bytes gzip"

# --- nginx on a private port, serving the saved bytes (gzip_static serves the same .gz bytes).
NGINX_DIR=$(mktemp -d -t twisterlab-nginx.XXXXXX)
chmod 0755 "$NGINX_DIR"
mkdir -p "$NGINX_DIR/www" "$NGINX_DIR/tmp"
cp "$WORK/status.html" "$WORK/status.html.gz" "$NGINX_DIR/www/"
touch -r "$NGINX_DIR/www/status.html" "$NGINX_DIR/www/status.html.gz"
chmod -R a+rX "$NGINX_DIR"
cat >"$NGINX_DIR/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $NGINX_DIR/tmp/body;
  proxy_temp_path $NGINX_DIR/tmp/proxy;
  fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
  uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
  scgi_temp_path $NGINX_DIR/tmp/scgi;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $NGINX_DIR/www;
    location / {
      default_type text/html;
      gzip_static on;
      add_header Cache-Control "public, max-age=10";
      try_files /status.html =404;
    }
  }
}
CONF
nginx -c "$NGINX_DIR/nginx.conf" -p "$NGINX_DIR" &
NGINX_PID=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$NGINX_PORT/" && break
  sleep 0.05
done
curl -s "http://127.0.0.1:$NGINX_PORT/" -o "$WORK/nginx.html"
curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$NGINX_PORT/" -o "$WORK/nginx.html.gz"
cmp -s "$WORK/nginx.html" "$WORK/status.html" || die "nginx does not serve the same bytes"
cmp -s "$WORK/nginx.html.gz" "$WORK/status.html.gz" || die "nginx does not serve the same gzip bytes"

cat >"$WORK/random_query.lua" <<'LUA'
-- A different query string on every request, as link trackers and cache busters send.
math.randomseed(os.time())
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/?utm_source=bench" .. math.random(1, 1000000000) .. "&n=" .. n)
end
LUA

# --- RSS sampler for the whole load phase.
(
  while kill -0 "$PORTAL_PID" 2>/dev/null; do
    awk '$1 == "VmRSS:" { printf "%.1f\n", $2 / 1024 }' "/proc/$PORTAL_PID/status" 2>/dev/null || true
    sleep 0.5
  done
) >"$WORK/rss.txt" &
SAMPLER_PID=$!
rss_before=$(mem_mib VmRSS)

run_wrk() { # name url conns encoding(identity|gzip) query(plain|random)
  local out="$WORK/wrk-$1.txt" args=(-t2 "-c$3" "-d${WRK_SECONDS}s" --latency -H "Host: $STATUS_HOST")
  [ "$4" = gzip ] && args+=(-H 'Accept-Encoding: gzip')
  [ "$5" = random ] && args+=(-s "$WORK/random_query.lua")
  wrk "${args[@]}" "$2" >"$out" 2>&1 || true
  wrk_figures "$out"
}

rows=()
for conns in 16 64 256; do
  for enc in identity gzip; do
    for query in plain random; do
      say "wrk -c$conns, $enc, $query query: portal, then nginx"
      IFS='|' read -r p_rps p_p50 p_p99 p_bad _ < <(run_wrk "portal-$conns-$enc-$query" "$BASE/" "$conns" "$enc" "$query")
      IFS='|' read -r n_rps n_p50 n_p99 n_bad _ < <(run_wrk "nginx-$conns-$enc-$query" "http://127.0.0.1:$NGINX_PORT/" "$conns" "$enc" "$query")
      ratio=$(awk -v a="$p_rps" -v b="$n_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
      rows+=("$(printf '| %3s | %-8s | %-6s | %9s | %8s | %8s | %9s | %8s | %8s | %5s | %s |' \
        "$conns" "$enc" "$query" "$p_rps" "$p_p50" "$p_p99" "$n_rps" "$n_p50" "$n_p99" "$ratio" "$p_bad/$n_bad")")
    done
  done
done

# --- Freshness: post public updates through the API while wrk loads the page; time until each
# shows on the status page.
commander="bench-commander-$$@twisterlab.test"
printf 'bench status page commander %s\n' "$RANDOM$RANDOM$RANDOM" \
  | portal_env "$BIN" create-user --email "$commander" --role commander --name "Bench commander" --password-stdin >/dev/null 2>&1 \
  || die "create-user failed"
token=$(portal_env "$BIN" create-token --email "$commander" --name bench 2>/dev/null) || die "create-token failed"
number=$(psql "$DB_URL" -qAtc "select number from incidents where status <> 'resolved' order by started_at, title limit 1")
say "freshness: $UPDATES public updates through the API (INC-$number) while wrk -c64 gzip loads the page"
wrk -t2 -c64 -d600s --latency -H "Host: $STATUS_HOST" -H 'Accept-Encoding: gzip' "$BASE/" >"$WORK/wrk-freshness.txt" 2>&1 &
WRK_PID=$!
sleep 1
lags=()
for i in $(seq 1 "$UPDATES"); do
  marker="FRESHNESS-$i-$RANDOM$RANDOM"
  t0=$(now_ns)
  code=$(curl -s -o "$WORK/post.json" -w '%{http_code}' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"kind\":\"public_update\",\"body\":\"Probe $marker.\",\"status\":\"monitoring\"}" \
    "$BASE/api/v1/incidents/$number/events")
  [ "$code" = 201 ] || die "posting update $i answered $code: $(cat "$WORK/post.json")"
  # Not `curl | grep -q`: grep exits at the first match, curl gets SIGPIPE, pipefail fails.
  until body=$(page "$BASE/") && [[ $body == *"$marker"* ]]; do
    [ $(( ($(now_ns) - t0) / 1000000 )) -lt 10000 ] || die "update $i did not appear within 10 s"
  done
  t1=$(now_ns)
  lags+=("$(( (t1 - t0) / 1000000 ))")
done
kill -INT "$WRK_PID" 2>/dev/null || true
wait "$WRK_PID" 2>/dev/null || true
IFS='|' read -r f_rps f_p50 f_p99 f_bad _ < <(wrk_figures "$WORK/wrk-freshness.txt")
lag_p50=$(printf '%s\n' "${lags[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
lag_p99=$(printf '%s\n' "${lags[@]}" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; print v[i] }')
lag_max=$(printf '%s\n' "${lags[@]}" | sort -n | tail -1)

kill "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
rss_peak_sampled=$(sort -n "$WORK/rss.txt" | tail -1)
rss_after=$(mem_mib VmRSS)
hwm=$(mem_mib VmHWM)
page_after=$(page -H 'Accept-Encoding: gzip' "$BASE/" | wc -c)
stop_portal

cat <<TABLE

TwisterLab Ops Portal — status page figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, release build)
  seeded: 10 components in 2 groups, 3 active incidents x 20 public updates, 90 days of history;
          maintenance windows: none (the maintenance area does not exist yet)
  one page view: HTML $size_gz B gzip ($size_br B br, $size_plain B plain) + stylesheet $css_gz B + icon $icon_gz B
  wrk -t2 -d${WRK_SECONDS}s --latency, Host: $STATUS_HOST; client, portal and nginx share the machine

| conns | encoding | query  | portal r/s | p50      | p99      | nginx r/s | p50      | p99      | ratio | non-2xx p/n |
|------:|----------|--------|-----------:|---------:|---------:|----------:|---------:|---------:|------:|------------|
$(printf '%s\n' "${rows[@]}")

  portal RSS: $rss_before MiB before the runs, peak sampled $rss_peak_sampled MiB, $rss_after MiB after, VmHWM $hwm MiB
  freshness lag over $UPDATES public updates (API request sent to first page showing it, polled with curl):
    p50 $lag_p50 ms, p99 $lag_p99 ms, max $lag_max ms   (page grew to $page_after B gzip)
    meanwhile wrk -c64 gzip: $f_rps r/s, p50 $f_p50, p99 $f_p99, non-2xx $f_bad
TABLE
