-- Postmortems of resolved incidents (required for P0 and P1): draft → in review → published,
-- with a timeline excerpt picked from the incident's events and action items with an owner and
-- a due date. A published postmortem of a public incident shows its public summary on the
-- status page.

create table postmortems (
    id                   uuid primary key,
    incident_id          uuid not null unique references incidents (id),
    state                text not null default 'draft' check (state in ('draft', 'in_review', 'published')),
    summary              text not null default '' check (char_length(summary) <= 20000),
    impact               text not null default '' check (char_length(impact) <= 20000),
    root_cause           text not null default '' check (char_length(root_cause) <= 20000),
    contributing_factors text not null default '' check (char_length(contributing_factors) <= 20000),
    went_well            text not null default '' check (char_length(went_well) <= 20000),
    -- What the status page shows once published (public incidents only); plain text.
    public_summary       text not null default '' check (char_length(public_summary) <= 5000),
    created_by           uuid references users (id),
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    submitted_at         timestamptz,
    published_at         timestamptz,
    published_by         uuid references users (id),
    check ((state = 'published') = (published_at is not null)),
    check (state <> 'published' or char_length(btrim(root_cause)) > 0)
);

create index postmortems_published_idx on postmortems (incident_id) where state = 'published';

-- The timeline excerpt: events of the incident picked for the postmortem.
create table postmortem_events (
    postmortem_id uuid not null references postmortems (id) on delete cascade,
    event_id      uuid not null references timeline_events (id),
    primary key (postmortem_id, event_id)
);

create table postmortem_actions (
    id            uuid primary key,
    postmortem_id uuid not null references postmortems (id) on delete cascade,
    title         text not null check (char_length(title) between 1 and 500),
    owner_id      uuid not null references users (id),
    -- Due by the end of this day in the team's zone.
    due_on        date not null,
    done_at       timestamptz,
    created_at    timestamptz not null default now()
);

create index postmortem_actions_postmortem_idx on postmortem_actions (postmortem_id, created_at);
-- Overdue items: open ones by due date, and per owner.
create index postmortem_actions_open_idx on postmortem_actions (due_on) where done_at is null;
create index postmortem_actions_owner_idx on postmortem_actions (owner_id, due_on) where done_at is null;
