-- Maintenance windows: planned work announced on the status page under the 48-hour rule,
-- started only once the pre-maintenance checklist is ticked (or a manager overrides), with
-- public updates, the health signals it held back while it ran, and its own append-only log.

create table maintenance_windows (
    id                        uuid primary key,
    title                     text not null check (char_length(title) between 1 and 200),
    -- Markdown; public from the announcement on.
    description               text not null default '',
    state                     text not null default 'draft'
                              check (state in ('draft', 'scheduled', 'in_progress', 'completed', 'rolled_back', 'cancelled')),
    -- Planned start and end (exclusive).
    starts_at                 timestamptz not null,
    ends_at                   timestamptz not null,
    owner_id                  uuid not null references users (id),
    -- When it was scheduled, i.e. appeared on the status page: the 48 hours count from here.
    announced_at              timestamptz,
    -- A manager's approval of less than 48 hours' notice: why, who, when.
    short_notice_reason       text,
    short_notice_by           uuid references users (id),
    short_notice_at           timestamptz,
    -- Why it was scheduled although it overlaps another window on the same components.
    overlap_reason            text,
    -- A manager's start before every checklist item was ticked: why, who, when, which items.
    checklist_override_reason text,
    checklist_override_by     uuid references users (id),
    checklist_override_at     timestamptz,
    checklist_override_items  text[] not null default '{}',
    -- When the work really started; when every step was done and the team began verifying
    -- (public status `verifying`); when it ended (completed, rolled back or cancelled).
    started_at                timestamptz,
    verifying_at              timestamptz,
    ended_at                  timestamptz,
    -- The guided run of the maintenance runbook started with the window, once runs exist.
    run_id                    uuid,
    -- Bumped by every change, for optimistic concurrency from forms and the API.
    version                   integer not null default 1,
    created_by                uuid references users (id),
    created_at                timestamptz not null default now(),
    updated_at                timestamptz not null default now(),
    check (ends_at > starts_at),
    check (state in ('draft', 'cancelled') or announced_at is not null),
    check (state not in ('in_progress', 'completed', 'rolled_back') or started_at is not null),
    check (state not in ('completed', 'rolled_back', 'cancelled') or ended_at is not null),
    check ((short_notice_reason is null) = (short_notice_at is null)),
    check ((checklist_override_reason is null) = (checklist_override_at is null))
);

create index maintenance_windows_state_idx on maintenance_windows (state, starts_at);

create table maintenance_window_components (
    window_id    uuid not null references maintenance_windows (id) on delete cascade,
    component_id uuid not null references components (id),
    primary key (window_id, component_id)
);

create index maintenance_window_components_component_idx on maintenance_window_components (component_id);

-- The pre-maintenance checklist of each window: the runbook's items and the team's own.
create table maintenance_checklist_items (
    window_id         uuid not null references maintenance_windows (id) on delete cascade,
    -- Stable key: the runbook's (announced_48h…) or custom_<n>.
    key               text not null check (key ~ '^[a-z0-9_]{1,64}$'),
    position          integer not null,
    label             text not null check (char_length(label) between 1 and 200),
    evidence_required boolean not null default false,
    ticked_by         uuid references users (id),
    -- Who ticked it, as shown then.
    ticked_by_label   text,
    ticked_at         timestamptz,
    -- What shows it is done (for the backup: where it is).
    evidence          text,
    primary key (window_id, key),
    check ((ticked_at is null) = (ticked_by is null))
);

-- Public updates, like an incident's: on the status page, in its JSON and its feeds.
create table maintenance_updates (
    id            uuid primary key,
    window_id     uuid not null references maintenance_windows (id) on delete cascade,
    at            timestamptz not null default date_trunc('milliseconds', clock_timestamp()),
    -- The Statuspage status announced with it.
    status        text not null check (status in ('scheduled', 'in_progress', 'verifying', 'completed')),
    -- Markdown.
    body          text not null check (char_length(body) between 1 and 20000),
    actor_user_id uuid references users (id),
    actor_label   text not null
);

create index maintenance_updates_window_idx on maintenance_updates (window_id, at);

-- Everything that happened to a window, oldest first; never updated or deleted.
create table maintenance_events (
    id            uuid primary key,
    window_id     uuid not null references maintenance_windows (id),
    at            timestamptz not null default date_trunc('milliseconds', clock_timestamp()),
    kind          text not null check (kind in ('created', 'scheduled', 'item_added', 'item_ticked', 'item_unticked',
                      'started', 'update_posted', 'verifying', 'completed', 'rolled_back', 'cancelled',
                      'signal_suppressed', 'signal_checked')),
    actor_user_id uuid references users (id),
    actor_label   text not null,
    -- One line for people.
    summary       text not null,
    data          jsonb not null default '{}'
);

create index maintenance_events_window_idx on maintenance_events (window_id, at, id);

create function maintenance_events_are_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'maintenance_events is append-only: % is not allowed', tg_op;
end;
$$;

create trigger maintenance_events_append_only
    before update or delete or truncate on maintenance_events
    for each statement execute function maintenance_events_are_append_only();

-- Health signals a window held back: a probed service that went down on one of its components
-- while it was in progress. Nothing is lost: when the window ends, each one is checked again.
create table maintenance_suppressed_signals (
    id           uuid primary key,
    window_id    uuid not null references maintenance_windows (id) on delete cascade,
    service_id   uuid references health_services (id) on delete set null,
    -- The service's name then (kept when the service is deleted).
    service_name text not null,
    component_id uuid references components (id) on delete set null,
    fired_at     timestamptz not null default now(),
    -- Why the probe failed, as the probe said it.
    reason       text not null default '',
    -- The check at the window's end: 'recovered' (up again), 'incident' (still down: incident_id
    -- declared), 'open_incident' (an incident was already open), 'no_incident' (the service opens none),
    -- 'held_over' (another window still in progress covers the component and holds it now).
    outcome      text check (outcome in ('recovered', 'incident', 'open_incident', 'no_incident', 'held_over')),
    checked_at   timestamptz,
    incident_id  uuid references incidents (id),
    check ((outcome is null) = (checked_at is null))
);

create index maintenance_suppressed_signals_window_idx on maintenance_suppressed_signals (window_id, fired_at);
