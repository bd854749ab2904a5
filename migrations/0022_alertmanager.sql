-- Prometheus Alertmanager can declare incidents (issue 14): every webhook delivery as
-- received with its outcome (the audit trail and the admin page's last 100), each alert by
-- its fingerprint and start (so a repeated or retried notification changes nothing), and the
-- incident each alert group opened (at most one open per group key).

create table alertmanager_deliveries (
    id          bigint generated always as identity primary key,
    received_at timestamptz not null default now(),
    -- The token owner who delivered it (null: the user was deleted since).
    user_id     uuid references users (id) on delete set null,
    -- The body exactly as received (within the request body limit).
    body        text not null,
    -- processed: valid and acted on; rejected: refused with a 4xx (nothing else written).
    outcome     text not null check (outcome in ('processed', 'rejected')),
    -- What was done, or why it was refused, in words.
    detail      text not null default ''
);

create index alertmanager_deliveries_received_idx on alertmanager_deliveries (received_at desc, id desc);

-- One row per alert occurrence: Alertmanager's fingerprint (of the label set) and its start.
create table alertmanager_alerts (
    fingerprint   text not null check (char_length(fingerprint) between 1 and 64),
    starts_at     timestamptz not null,
    incident_id   uuid not null references incidents (id),
    group_key     text not null,
    status        text not null check (status in ('firing', 'resolved')),
    ends_at       timestamptz,
    labels        jsonb not null default '{}',
    annotations   jsonb not null default '{}',
    generator_url text,
    primary key (fingerprint, starts_at)
);

create index alertmanager_alerts_incident_idx on alertmanager_alerts (incident_id);

-- The incident an alert group (by the configured grouping labels) opened.
create table alertmanager_groups (
    incident_id uuid primary key references incidents (id),
    group_key   text not null,
    opened_at   timestamptz not null default now()
);

create index alertmanager_groups_key_idx on alertmanager_groups (group_key, opened_at desc);
