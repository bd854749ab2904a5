-- Health overview: the services the portal probes, their current state and probe leases, raw
-- results and daily roll-ups, the incidents their failures opened, and the snapshots the
-- background workers take of Prometheus and Kubernetes so pages never wait on either.

create table health_services (
    id                   uuid primary key,
    -- Used in URLs (/health/services/{name}) and incident titles.
    name                 text not null unique check (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    url                  text not null check (url ~ '^https?://' and char_length(url) <= 2000),
    -- Expected JSON fields: JSON pointer -> expected JSON value, e.g. {"/status": "healthy"}.
    expect               jsonb not null default '{}' check (jsonb_typeof(expect) = 'object'),
    interval_seconds     integer not null default 30 check (interval_seconds between 5 and 86400),
    timeout_ms           integer not null default 2000 check (timeout_ms between 100 and 60000),
    -- Consecutive failed probes that turn the service "down" (and may open an incident).
    failures_before_down integer not null default 3 check (failures_before_down between 1 and 100),
    -- The status-page component a down service degrades, and how badly.
    component_id         uuid references components (id) on delete set null,
    impact               text not null default 'partial_outage' check (impact in ('degraded_performance', 'partial_outage', 'major_outage')),
    -- Severity of the incident a down service declares; null: never declare one.
    open_incident        text check (open_incident in ('P0', 'P1', 'P2', 'P3')),
    enabled              boolean not null default true,
    -- Defined by [[services]] in the configuration file: reconciled at start, read-only in the UI.
    managed_by_file      boolean not null default false,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    check (timeout_ms < interval_seconds * 1000)
);

-- One row per service: what the last probes found, and the scheduling lease.
create table health_service_state (
    service_id           uuid primary key references health_services (id) on delete cascade,
    -- unknown (never probed), up, failing (fewer failures than the threshold), down.
    state                text not null default 'unknown' check (state in ('unknown', 'up', 'failing', 'down')),
    state_since          timestamptz not null default now(),
    consecutive_failures integer not null default 0,
    last_checked_at      timestamptz,
    last_ok_at           timestamptz,
    last_latency_ms      integer,
    -- Why the last probe failed, in words (null after a success).
    last_reason          text,
    -- When the next probe is due. A claim moves it one interval on in the same statement, so
    -- with several portal processes each probe runs once per interval.
    next_run_at          timestamptz not null default now(),
    -- The process running the probe now and until when its claim holds; a crashed process's
    -- claim simply expires.
    lease_owner          uuid,
    lease_until          timestamptz
);

create index health_service_state_due_idx on health_service_state (next_run_at);

-- Raw results, kept for a few days (the daily roll-ups keep the long view).
create table health_probe_results (
    id           bigint generated always as identity primary key,
    service_id   uuid not null references health_services (id) on delete cascade,
    -- When the probe was due and when it started: the difference is the scheduler's lateness.
    scheduled_at timestamptz not null,
    started_at   timestamptz not null,
    ok           boolean not null,
    latency_ms   integer,
    http_status  smallint,
    -- timeout, dns, connect, tls, http_status, not_json, mismatch, too_large, redirects, transport.
    failure      text,
    reason       text,
    -- The first characters of the body, as evidence.
    excerpt      text
);

create index health_probe_results_service_idx on health_probe_results (service_id, started_at desc);
create index health_probe_results_started_idx on health_probe_results (started_at);

-- Per service and UTC day: checks, successes and latency percentiles of successful checks.
create table health_probe_daily (
    service_id     uuid not null references health_services (id) on delete cascade,
    day            date not null,
    checks         integer not null,
    successes      integer not null,
    latency_p50_ms integer,
    latency_p95_ms integer,
    latency_p99_ms integer,
    primary key (service_id, day)
);

-- Incidents declared by a service's failures. At most one of them is open per service: the
-- signal code holds the service's state row lock while it looks for an open one.
create table health_signal_incidents (
    incident_id uuid primary key references incidents (id),
    service_id  uuid not null references health_services (id) on delete cascade,
    opened_at   timestamptz not null default now()
);

create index health_signal_incidents_service_idx on health_signal_incidents (service_id, opened_at desc);

-- What the background workers last saw of Prometheus (key metrics) and Kubernetes, as JSON;
-- pages read these rows. lease_until keeps several processes from refreshing at once.
create table health_snapshots (
    kind        text primary key check (kind in ('key_metrics', 'kubernetes')),
    taken_at    timestamptz,
    body        jsonb not null default '{}',
    lease_until timestamptz
);

insert into health_snapshots (kind) values ('key_metrics'), ('kubernetes');

-- TwisterLab's own services (runbook: Health Check & Monitoring, incidents 3 and 5).
insert into health_services (id, name, url, expect, interval_seconds, timeout_ms, failures_before_down, component_id, impact, open_incident) values
    ('0193a000-0000-7000-8000-000000000101', 'twisterlab-api', 'http://edgeserver.twisterlab.local:30001/health',
     '{"/status": "healthy", "/database": "connected", "/redis": "connected", "/agents": "operational"}',
     30, 2000, 3, '0193a000-0000-7000-8000-000000000011', 'partial_outage', 'P1'),
    ('0193a000-0000-7000-8000-000000000102', 'mcp-unified', 'http://mcp-unified.twisterlab.svc:8000/health',
     '{"/status": "healthy"}',
     30, 2000, 3, '0193a000-0000-7000-8000-000000000012', 'partial_outage', 'P2'),
    ('0193a000-0000-7000-8000-000000000103', 'ollama', 'http://ollama-service:11434/api/tags',
     '{}',
     60, 5000, 3, '0193a000-0000-7000-8000-000000000014', 'degraded_performance', null);

-- Spread the first probes over their interval (jitter).
insert into health_service_state (service_id, next_run_at)
select id, now() + make_interval(secs => interval_seconds * random()) from health_services;
