-- Incidents: SLA policy, business hours, status-page components, incidents and their
-- append-only timeline.

-- One row per severity; seeded with the reference runbook's table, editable by admins.
create table sla_policy (
    severity           text primary key check (severity in ('P0', 'P1', 'P2', 'P3')),
    -- Acknowledge target, seconds after the incident's start.
    response_seconds   integer not null check (response_seconds > 0 and response_seconds <= 7 * 86400),
    -- 'immediately', 'after' (escalation_seconds after start) or 'next_business_day'.
    escalation_kind    text not null check (escalation_kind in ('immediately', 'after', 'next_business_day')),
    escalation_seconds integer check (escalation_seconds is null or escalation_seconds > 0),
    updated_at         timestamptz not null default now(),
    check ((escalation_kind = 'after') = (escalation_seconds is not null))
);

insert into sla_policy (severity, response_seconds, escalation_kind, escalation_seconds) values
    ('P0', 300, 'immediately', null),
    ('P1', 900, 'after', 1800),
    ('P2', 3600, 'after', 7200),
    ('P3', 14400, 'next_business_day', null);

-- The team's business hours (the time zone is TWISTERLAB_TIMEZONE). A single row.
create table business_hours (
    id       boolean primary key default true check (id),
    -- ISO weekdays, 1 = Monday … 7 = Sunday.
    days     smallint[] not null default '{1,2,3,4,5}',
    opens_at time not null default '09:00',
    closes_at time not null default '17:00',
    check (opens_at < closes_at)
);

insert into business_hours default values;

create table component_groups (
    id       uuid primary key,
    name     text not null unique,
    position integer not null default 0
);

create table components (
    id            uuid primary key,
    group_id      uuid references component_groups (id) on delete set null,
    name          text not null unique,
    description   text not null default '',
    position      integer not null default 0,
    -- An admin's pinned status, overriding the computed one, with the reason shown to admins.
    manual_status text check (manual_status in ('operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance')),
    manual_reason text,
    created_at    timestamptz not null default now()
);

insert into component_groups (id, name, position) values
    ('0193a000-0000-7000-8000-000000000001', 'Platform', 1),
    ('0193a000-0000-7000-8000-000000000002', 'Data', 2);

insert into components (id, group_id, name, description, position) values
    ('0193a000-0000-7000-8000-000000000011', '0193a000-0000-7000-8000-000000000001', 'API', 'The TwisterLab API', 1),
    ('0193a000-0000-7000-8000-000000000012', '0193a000-0000-7000-8000-000000000001', 'MCP tools', 'Tools for IDEs and assistants', 2),
    ('0193a000-0000-7000-8000-000000000013', '0193a000-0000-7000-8000-000000000001', 'Agents', 'Autonomous agents', 3),
    ('0193a000-0000-7000-8000-000000000014', '0193a000-0000-7000-8000-000000000001', 'LLM backend', 'Language model serving', 4),
    ('0193a000-0000-7000-8000-000000000015', '0193a000-0000-7000-8000-000000000002', 'Database', 'PostgreSQL', 1),
    ('0193a000-0000-7000-8000-000000000016', '0193a000-0000-7000-8000-000000000002', 'Cache', 'Redis', 2);

create sequence incident_number_seq;

create table incidents (
    id               uuid primary key,
    -- Shown as INC-<number>.
    number           bigint not null unique default nextval('incident_number_seq'),
    title            text not null check (char_length(title) between 1 and 200),
    summary          text not null default '',
    severity         text not null check (severity in ('P0', 'P1', 'P2', 'P3')),
    status           text not null check (status in ('triggered', 'acknowledged', 'investigating', 'identified', 'monitoring', 'resolved')),
    -- Private incidents never reach the status page; security incidents default to private.
    private          boolean not null default false,
    security         boolean not null default false,
    started_at       timestamptz not null,
    detected_at      timestamptz not null,
    acknowledged_at  timestamptz,
    resolved_at      timestamptz,
    commander_id     uuid references users (id),
    comms_lead_id    uuid references users (id),
    scribe_id        uuid references users (id),
    labels           text[] not null default '{}',
    -- SLA deadlines from the policy at the incident's start; recomputed on severity change.
    respond_by       timestamptz not null,
    escalate_by      timestamptz not null,
    -- Bumped by every change, for optimistic concurrency checks from forms and the API.
    version          integer not null default 1,
    created_by       uuid references users (id),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    search           tsvector generated always as (to_tsvector('simple', title || ' ' || summary)) stored
);

-- The list's order (open first, newest first) is this index read backwards, so a keyset page is
-- one row comparison and an index range scan however deep it goes.
create index incidents_list_idx on incidents ((status <> 'resolved'), started_at, number);
create index incidents_started_idx on incidents (started_at desc);
create index incidents_commander_idx on incidents (commander_id);
create index incidents_search_idx on incidents using gin (search);

create table incident_components (
    incident_id  uuid not null references incidents (id) on delete cascade,
    component_id uuid not null references components (id),
    impact       text not null check (impact in ('degraded_performance', 'partial_outage', 'major_outage')),
    primary key (incident_id, component_id)
);

create index incident_components_component_idx on incident_components (component_id);

create table incident_links (
    id          uuid primary key,
    incident_id uuid not null references incidents (id) on delete cascade,
    kind        text not null check (kind in ('slack', 'bridge', 'grafana', 'runbook', 'other')),
    url         text not null,
    label       text not null default '',
    created_at  timestamptz not null default now()
);

create index incident_links_incident_idx on incident_links (incident_id, created_at);

-- The timeline: typed, append-only events. Corrections are new events pointing at the one
-- they correct.
create table timeline_events (
    id            uuid primary key,
    incident_id   uuid not null references incidents (id),
    -- Millisecond timestamps: clock_timestamp() so events in one transaction keep their order.
    at            timestamptz not null default date_trunc('milliseconds', clock_timestamp()),
    kind          text not null check (kind in ('declared', 'acknowledged', 'status_changed', 'severity_changed', 'role_assigned',
                      'note', 'public_update', 'component_impact_changed', 'link_added', 'escalated', 'notified', 'sla_breached',
                      'runbook_step', 'kubernetes_action', 'health_signal', 'resolved', 'reopened')),
    actor_user_id uuid references users (id),
    actor_label   text not null,
    -- Markdown for notes and public updates; rendered with raw HTML escaped.
    body          text,
    -- Typed facts of the event: from/to status, severity, role and user, component and impact…
    data          jsonb not null default '{}',
    -- Public updates reach the status page; so do declared/resolved of public incidents.
    public        boolean not null default false,
    -- Status shown with a public update (investigating, identified, monitoring, resolved).
    public_status text,
    corrects_id   uuid references timeline_events (id),
    -- The incident's version right after the change that wrote this event, so a client holding
    -- an older version can be told exactly which events it missed.
    incident_version integer not null default 0
);

create index timeline_events_incident_idx on timeline_events (incident_id, at, id);
create index timeline_events_public_idx on timeline_events (incident_id, at desc) where public;

create function timeline_is_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'timeline_events is append-only: % is not allowed; add a correcting event instead', tg_op;
end;
$$;

create trigger timeline_events_append_only
    before update or delete or truncate on timeline_events
    for each statement execute function timeline_is_append_only();
