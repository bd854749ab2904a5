-- The audit log: one row per mutation anywhere in the portal, written in the same transaction
-- as the change it records. Rows are never updated or deleted (enforced below).
create table audit_log (
    id            bigint generated always as identity primary key,
    at            timestamptz not null default now(),
    -- The signed-in user or API token owner; null for the system itself (workers, start-up).
    actor_user_id uuid,
    -- Human label kept as it was at the time: "alice@example.com", "token ci-deploy", "system".
    actor_label   text not null,
    -- Dotted verb, e.g. "user.create", "incident.acknowledge".
    action        text not null,
    -- What was acted on, e.g. "user:0190…", "incident:INC-42".
    target        text not null default '',
    -- Client address as seen by the portal (after trusted proxies); null for workers.
    client_addr   text,
    request_id    text,
    -- Short before/after summaries, never secrets.
    before        jsonb,
    after         jsonb
);

create index audit_log_at_idx on audit_log (at desc, id desc);
create index audit_log_actor_idx on audit_log (actor_user_id, at desc);
create index audit_log_action_idx on audit_log (action, at desc);
create index audit_log_target_idx on audit_log (target, at desc);

create function audit_log_is_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only: % is not allowed', tg_op;
end;
$$;

create trigger audit_log_append_only
    before update or delete or truncate on audit_log
    for each statement execute function audit_log_is_append_only();
