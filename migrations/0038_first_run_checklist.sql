-- The first-run checklist on the overview: admins see it until every item is done or one of
-- them dismisses it. One row at most (the key is always true); no row: not dismissed.
create table first_run_checklist (
    singleton    boolean primary key default true check (singleton),
    dismissed_at timestamptz not null default now(),
    -- Null when the admin's account was deleted since.
    dismissed_by uuid references users (id) on delete set null
);

-- The pages' change marker (`GET /live`) reads the newest timeline event on every poll of every
-- open tab: an index makes that one step instead of a scan of the whole timeline.
create index timeline_events_at_idx on timeline_events (at desc);
