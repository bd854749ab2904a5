-- On-call rotations, the escalation deadline engine and the notification outbox.

-- The two rotations: 'responders' gives the primary (and the next person, the secondary),
-- 'managers' the manager. Hand-offs happen on a weekday at a wall-clock time in time_zone.
create table oncall_rotations (
    kind            text primary key check (kind in ('responders', 'managers')),
    -- IANA zone the hand-off time is read in.
    time_zone       text not null,
    -- Counting starts here: the first participant takes the first hand-off on or after it.
    starts_on       date not null,
    -- ISO weekday of the hand-off, 1 = Monday … 7 = Sunday.
    handoff_weekday smallint not null check (handoff_weekday between 1 and 7),
    handoff_time    time not null,
    -- Calendar days per shift (7: weekly).
    length_days     smallint not null default 7 check (length_days between 1 and 365),
    updated_at      timestamptz not null default now()
);

create table oncall_participants (
    kind     text not null references oncall_rotations (kind) on delete cascade,
    -- Hand-off order, from 0.
    position smallint not null check (position >= 0),
    user_id  uuid not null references users (id),
    primary key (kind, position),
    unique (kind, user_id)
);

-- Someone covering a rotation's on-call slot from starts_at to ends_at (exclusive); when two
-- overlap, the one created later wins.
create table oncall_overrides (
    id         uuid primary key,
    kind       text not null references oncall_rotations (kind) on delete cascade,
    user_id    uuid not null references users (id),
    starts_at  timestamptz not null,
    ends_at    timestamptz not null,
    note       text not null default '',
    created_by uuid references users (id),
    created_at timestamptz not null default now(),
    check (starts_at < ends_at)
);

create index oncall_overrides_kind_idx on oncall_overrides (kind, ends_at);

-- Escalation deadlines: each pending page, escalation and SLA check of an incident. Workers in
-- every process take due rows with FOR UPDATE SKIP LOCKED, act, and mark them done in the
-- same transaction.
create table escalation_deadlines (
    id            uuid primary key,
    incident_id   uuid not null references incidents (id),
    -- page_secondary: 15 min after the primary was paged, unless acknowledged;
    -- escalate_manager: at escalate_by, unless resolved; response_sla: at respond_by, unless acknowledged.
    kind          text not null check (kind in ('page_secondary', 'escalate_manager', 'response_sla')),
    due_at        timestamptz not null,
    state         text not null default 'pending' check (state in ('pending', 'done', 'cancelled')),
    fired_at      timestamptz,
    -- host:pid of the process that fired it, for diagnosis.
    fired_by      text,
    cancelled_at  timestamptz,
    -- 'acknowledged', 'resolved', …
    cancel_reason text,
    created_at    timestamptz not null default now()
);

create index escalation_deadlines_due_idx on escalation_deadlines (due_at) where state = 'pending';
create unique index escalation_deadlines_pending_idx on escalation_deadlines (incident_id, kind) where state = 'pending';
create index escalation_deadlines_incident_idx on escalation_deadlines (incident_id);

-- Outbound channels. Rows with config_key come from the environment or the TOML file: their
-- URL and secret are read from the configuration at delivery and never stored here.
create table notification_channels (
    id         uuid primary key,
    kind       text not null check (kind in ('slack', 'webhook', 'pagerduty')),
    name       text not null unique check (char_length(name) between 1 and 100),
    enabled    boolean not null default true,
    -- 'slack', 'webhook' or 'pagerduty' for the channel configured by TWISTERLAB_* settings.
    config_key text unique,
    -- Slack: the incoming-webhook URL (itself a secret); webhook: the endpoint; PagerDuty: the
    -- Events API v2 endpoint.
    url        text,
    -- Webhook: the HMAC-SHA256 key; PagerDuty: the routing key. Never shown on a page.
    secret     text,
    -- Events sent per severity: {"P0": ["declared", "escalated", …], "P1": […], …}.
    routes     jsonb not null default '{}',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- The outbox: one row per message to one channel, written in the transaction of its cause.
create table notifications (
    -- Also the idempotency key sent with every attempt.
    id              uuid primary key,
    -- Creation order; messages of one incident to one channel are delivered in this order.
    seq             bigint generated always as identity unique,
    channel_id      uuid not null references notification_channels (id) on delete cascade,
    incident_id     uuid references incidents (id),
    event           text not null,
    -- The facts at the time of the event; rendered per channel at delivery.
    payload         jsonb not null,
    -- delivering: claimed by a worker until next_attempt_at (the lease), then claimable again.
    state           text not null default 'pending' check (state in ('pending', 'delivering', 'failed', 'delivered', 'dead')),
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_attempt_at timestamptz,
    last_error      text,
    -- HTTP status of the last attempt, when there was an answer.
    last_status     integer,
    delivered_at    timestamptz,
    created_at      timestamptz not null default now()
);

create index notifications_due_idx on notifications (next_attempt_at) where state in ('pending', 'delivering', 'failed');
create index notifications_order_idx on notifications (channel_id, incident_id, seq) where state in ('pending', 'delivering', 'failed');
create index notifications_state_idx on notifications (state, seq desc);
create index notifications_incident_idx on notifications (incident_id);
