-- Status page: the recorded history of each component's public status (for the 90-day uptime
-- bars), and which component descriptions the public may read.

-- One row each time a component's computed public status changed. The status page cache
-- writes a row when the status it computes differs from the component's last row, under an
-- advisory lock so several portal processes never record the same change twice.
create table component_status_history (
    id           bigint generated always as identity primary key,
    component_id uuid not null references components (id) on delete cascade,
    status       text not null check (status in ('operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance')),
    -- When the status page first computed this status.
    at           timestamptz not null default now()
);

create index component_status_history_component_idx on component_status_history (component_id, at desc, id desc);

-- Descriptions are internal notes for admins unless an admin marks them public; only public
-- descriptions reach the status page and its API.
alter table components add column description_public boolean not null default false;
