-- The component status history is now written where a status changes (incident impacts,
-- resolve and reopen, an admin's pin, a new component), in the transaction of the change; the
-- status page only reads it. A component's history starts when the component is created.

comment on table component_status_history is
    'One row each time a component''s public status changed, written in the transaction of the change (status_page::history::record) and at start-up for changes of the rules; the status page only reads it. Feeds the 90-day uptime bars.';
comment on column component_status_history.at is
    'When the component took this status (the clock of the statement that recorded it).';

-- Components that have no history yet (the ones created by migrations, before any status page
-- rebuild recorded them) start at their creation, operational: nothing could have affected
-- them before. The portal's start-up records any other status they have now.
insert into component_status_history (component_id, status, at)
select c.id, 'operational', c.created_at
  from components c
 where not exists (select 1 from component_status_history h where h.component_id = c.id);
