-- Guided runs: a runbook version followed step by step on an incident or a maintenance window.

create table runbook_runs (
    id               uuid primary key,
    slug             text not null,
    -- The version the run started with; later edits do not change it.
    revision         integer not null,
    -- The subject: exactly one of an incident and a maintenance window. maintenance_windows is
    -- created by a later migration (0025), so window_id has no foreign key; the window's own
    -- run_id points back here and the service checks the window exists.
    incident_id      uuid references incidents (id),
    window_id        uuid,
    status           text not null default 'in_progress' check (status in ('in_progress', 'completed', 'abandoned')),
    -- Why it was abandoned or completed early.
    closed_reason    text check (closed_reason is null or char_length(closed_reason) between 1 and 1000),
    started_by       uuid references users (id),
    started_by_label text not null,
    started_at       timestamptz not null default now(),
    closed_by        uuid references users (id),
    closed_by_label  text,
    closed_at        timestamptz,
    -- Bumped by every change of the run or one of its steps.
    version          integer not null default 1,
    foreign key (slug, revision) references runbook_versions (slug, revision),
    check ((incident_id is null) <> (window_id is null)),
    check ((status = 'in_progress') = (closed_at is null)),
    check (status <> 'abandoned' or closed_reason is not null)
);

create index runbook_runs_incident_idx on runbook_runs (incident_id) where incident_id is not null;
create index runbook_runs_window_idx on runbook_runs (window_id) where window_id is not null;

create table runbook_run_steps (
    run_id        uuid not null references runbook_runs (id),
    step_key      text not null check (step_key ~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$'),
    -- Order in the runbook version, from 0.
    position      integer not null,
    status        text not null default 'pending' check (status in ('pending', 'done', 'skipped', 'failed')),
    -- Why it was skipped.
    reason        text,
    -- Why it failed (an action's error, such as the API server's message).
    message       text,
    -- What the person noted when completing it.
    note          text,
    -- Who changed it last, and when.
    actor_id      uuid references users (id),
    actor_label   text,
    changed_at    timestamptz,
    -- The action as last run or previewed, with the person's parameters (domain Action JSON).
    action_input  jsonb,
    -- The server-side dry run of a changing action (before → after), and the single-use
    -- token its confirmation must carry; cleared when the change is applied.
    preview       jsonb,
    preview_token text,
    preview_at    timestamptz,
    -- What the action returned (runbooks::output::ActionOutput JSON). Never a secret value.
    output        jsonb,
    -- Bumped by every change of this step: two people acting on one step never both win.
    version       integer not null default 1,
    primary key (run_id, step_key),
    unique (run_id, position),
    check (status <> 'skipped' or reason is not null),
    check (status <> 'failed' or message is not null),
    check ((preview_token is null) = (preview_at is null))
);
