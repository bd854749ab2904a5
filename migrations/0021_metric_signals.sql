-- Key metrics act (issue 14): every read of a key metric is kept (pruned to 30 days by a
-- worker) for the overview's trend charts, each metric's signal (over its threshold for its
-- "for" duration) lives in one row, and the incidents a metric's breach declared are linked so
-- at most one is open per metric.

create table metric_readings (
    id        bigint generated always as identity primary key,
    -- The key metric's name (`api_latency_p95`).
    metric    text not null check (char_length(metric) between 1 and 100),
    read_at   timestamptz not null default now(),
    -- Null: unknown (Prometheus unreachable, no data, not a number).
    value     double precision,
    -- The threshold at the time of the read (it may change in the configuration).
    threshold double precision not null,
    state     text not null check (state in ('ok', 'breach', 'unknown'))
);

create index metric_readings_metric_idx on metric_readings (metric, read_at);
create index metric_readings_read_at_idx on metric_readings (read_at);

-- One row per key metric, locked while a read is judged, so one process at a time steps it.
create table metric_signals (
    metric       text primary key check (char_length(metric) between 1 and 100),
    -- An open signal: the metric was over its threshold for its whole "for" duration and has
    -- not read healthy since.
    firing       boolean not null default false,
    -- Since when the current run of over-threshold reads lasts (null: not over it).
    breach_since timestamptz,
    -- The last read's state, for the overview (unknown until the first read).
    last_state   text not null default 'unknown' check (last_state in ('ok', 'breach', 'unknown')),
    last_value   double precision,
    last_read_at timestamptz
);

-- Incidents declared by a metric's breach; at most one of them is open per metric (the
-- signal row lock serialises the check).
create table metric_signal_incidents (
    incident_id uuid primary key references incidents (id),
    metric      text not null,
    opened_at   timestamptz not null default now()
);

create index metric_signal_incidents_metric_idx on metric_signal_incidents (metric, opened_at desc);
