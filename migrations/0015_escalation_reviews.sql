-- Escalation review for managers: one row per escalation the deadline engine recorded on a
-- timeline (a secondary page after a missed acknowledgement, a manager escalation, a response
-- SLA breach), kept in step with the timeline by a trigger, and the manager's review of it.

create table escalations (
    -- The timeline event that recorded it; the review list links to it (#e-<id>).
    event_id        uuid primary key references timeline_events (id),
    incident_id     uuid not null references incidents (id),
    -- missed_acknowledgement: the primary did not acknowledge, the secondary was paged;
    -- manager_escalation: the incident reached the manager; sla_breach: the response target passed.
    kind            text not null check (kind in ('missed_acknowledgement', 'manager_escalation', 'sla_breach')),
    -- The level of the paging chain it concerns: the secondary or manager paged, or the primary
    -- whose response target passed.
    level           text not null check (level in ('primary', 'secondary', 'manager')),
    fired_at        timestamptz not null,
    -- The primary on call when the incident was declared (from its first primary page).
    on_call_user_id uuid references users (id),
    -- The person this escalation paged; null for an SLA breach or when nobody held the role.
    paged_user_id   uuid references users (id),
    reviewed_at     timestamptz,
    reviewed_by     uuid references users (id),
    -- The manager's comment (Markdown, escaped) and the optional follow-up action.
    review_comment  text check (review_comment is null or char_length(review_comment) between 1 and 10000),
    follow_up       text check (follow_up is null or char_length(follow_up) between 1 and 2000),
    check ((reviewed_at is null) = (review_comment is null)),
    check (reviewed_at is not null or follow_up is null)
);

-- The review list, newest first, is a range scan of one of these whatever the filters.
create index escalations_list_idx on escalations (fired_at desc, event_id desc);
create index escalations_unreviewed_idx on escalations (fired_at desc, event_id desc) where reviewed_at is null;
create index escalations_incident_idx on escalations (incident_id);
create index escalations_paged_idx on escalations (paged_user_id, fired_at desc);

create function escalation_from_event() returns trigger language plpgsql as $$
declare
    v_kind  text;
    v_level text;
begin
    if new.kind = 'sla_breached' then
        v_kind := 'sla_breach';
        v_level := 'primary';
    elsif new.data ->> 'to' = 'secondary' then
        v_kind := 'missed_acknowledgement';
        v_level := 'secondary';
    else
        v_kind := 'manager_escalation';
        v_level := 'manager';
    end if;
    insert into escalations (event_id, incident_id, kind, level, fired_at, on_call_user_id, paged_user_id)
    values (
        new.id, new.incident_id, v_kind, v_level, new.at,
        (select (e.data ->> 'user_id')::uuid from timeline_events e
          where e.incident_id = new.incident_id and e.kind = 'notified' and e.data ->> 'to' = 'primary'
          order by e.at, e.id limit 1),
        case when new.kind = 'escalated' then (new.data ->> 'user_id')::uuid end
    );
    return null;
end;
$$;

create trigger timeline_events_escalation
    after insert on timeline_events
    for each row when (new.kind in ('escalated', 'sla_breached'))
    execute function escalation_from_event();

-- Escalations recorded before this migration.
insert into escalations (event_id, incident_id, kind, level, fired_at, on_call_user_id, paged_user_id)
select t.id, t.incident_id,
       case when t.kind = 'sla_breached' then 'sla_breach'
            when t.data ->> 'to' = 'secondary' then 'missed_acknowledgement'
            else 'manager_escalation' end,
       case when t.kind = 'sla_breached' then 'primary'
            when t.data ->> 'to' = 'secondary' then 'secondary'
            else 'manager' end,
       t.at,
       (select (e.data ->> 'user_id')::uuid from timeline_events e
         where e.incident_id = t.incident_id and e.kind = 'notified' and e.data ->> 'to' = 'primary'
         order by e.at, e.id limit 1),
       case when t.kind = 'escalated' then (t.data ->> 'user_id')::uuid end
from timeline_events t
where t.kind in ('escalated', 'sla_breached');
