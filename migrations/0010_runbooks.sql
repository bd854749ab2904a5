-- Guided runbooks: every version of every runbook, from the shipped files (runbooks/*.toml)
-- or an admin's edit in the portal. Versions are never changed or deleted: a run keeps the
-- version it started with.

create table runbook_versions (
    slug             text not null check (slug ~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$'),
    revision         integer not null check (revision >= 1),
    -- SHA-256 of the runbook's canonical JSON (domain::runbook::Runbook::digest).
    digest           text not null check (digest ~ '^[0-9a-f]{64}$'),
    -- Denormalised from content for lists.
    title            text not null check (char_length(title) between 1 and 200),
    -- The runbook (domain::runbook::Runbook) as JSON.
    content          jsonb not null,
    -- 'file': loaded from runbooks/<slug>.toml at start; 'edit': saved by an admin.
    source           text not null check (source in ('file', 'edit')),
    created_by       uuid references users (id),
    -- Who made it, as shown then ("system" for files).
    created_by_label text not null,
    created_at       timestamptz not null default now(),
    primary key (slug, revision)
);

create function runbook_versions_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'runbook versions are append-only: make a new revision instead';
end;
$$;

create trigger runbook_versions_append_only before update or delete on runbook_versions
    for each row execute function runbook_versions_append_only();
