-- Recurring maintenance tasks: schedules in the team's time zone (TWISTERLAB_TIMEZONE) and the
-- task each period creates, completed by someone at some time.

create table maintenance_schedules (
    id            uuid primary key,
    -- Stable key; the runbook's tasks keep theirs (vacuum_analyze, log_cleanup).
    key           text not null unique check (key ~ '^[a-z0-9_]{1,64}$'),
    title         text not null check (char_length(title) between 1 and 200),
    cadence       text not null check (cadence in ('daily', 'weekly', 'monthly')),
    -- ISO weekday (1 = Monday) of a weekly schedule; day of the month of a monthly one (29 to
    -- 31 mean the last day in shorter months).
    weekday       smallint check (weekday between 1 and 7),
    day_of_month  smallint check (day_of_month between 1 and 31),
    -- Wall-clock time in the team's time zone.
    at_time       time not null,
    -- Seconds after its time a task may still be done before it counts as overdue.
    grace_seconds integer not null check (grace_seconds between 0 and 2678400),
    -- What completing a task confirms, in order.
    checklist     text[] not null default '{}',
    -- The runbook to follow as a guided run, if any.
    runbook_slug  text,
    active        boolean not null default true,
    created_by    uuid references users (id),
    created_at    timestamptz not null default now(),
    check ((cadence = 'weekly') = (weekday is not null)),
    check ((cadence = 'monthly') = (day_of_month is not null))
);

-- The runbook's "Database Vacuum & Analyze" (weekly, low-traffic hours) and "Log Rotation &
-- Cleanup"; the same as twisterlab_domain::recurrence::DEFAULT_TASKS (a test checks).
insert into maintenance_schedules (id, key, title, cadence, weekday, at_time, grace_seconds, checklist, runbook_slug) values
    ('0193a000-0000-7000-8000-000000000101', 'vacuum_analyze', 'Database vacuum and analyze', 'weekly', 7, '03:00', 86400,
     array['Run VACUUM ANALYZE on the database (online, no downtime)',
           'Check table bloat and note the largest tables'],
     'database-vacuum-analyze'),
    ('0193a000-0000-7000-8000-000000000102', 'log_cleanup', 'Log rotation and cleanup', 'weekly', 7, '04:00', 86400,
     array['Delete finished job pods (Succeeded or Failed)',
           'Archive the last 24 hours of API logs to s3://twisterlab-logs/',
           'Prune Docker images older than 7 days on the nodes'],
     'log-rotation-cleanup');

create table maintenance_tasks (
    id                 uuid primary key,
    schedule_id        uuid not null references maintenance_schedules (id) on delete cascade,
    -- The period's occurrence: when the task is due.
    due_at             timestamptz not null,
    -- Copied from the schedule when the task was created, so later edits leave it alone.
    title              text not null,
    checklist          text[] not null default '{}',
    grace_seconds      integer not null,
    runbook_slug       text,
    completed_at       timestamptz,
    completed_by       uuid references users (id),
    completed_by_label text,
    -- What the person completing it noted.
    note               text not null default '',
    -- The guided run followed for it, once runs exist.
    run_id             uuid,
    created_at         timestamptz not null default now(),
    unique (schedule_id, due_at),
    check ((completed_at is null) = (completed_by_label is null))
);

create index maintenance_tasks_open_idx on maintenance_tasks (due_at) where completed_at is null;
create index maintenance_tasks_due_idx on maintenance_tasks (due_at desc);
