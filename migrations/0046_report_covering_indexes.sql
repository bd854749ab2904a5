-- The report of a quarter with 100,000 incidents (bench/managers.sh): the figures per severity,
-- per component and the trend join each incident by id, which 0016's index lacked, so every
-- incident of the period was read from the table. With the id included they come from the
-- index alone (once vacuum has set the visibility map).
drop index incidents_report_idx;
create index incidents_report_idx on incidents (started_at) include (id, severity, acknowledged_at, resolved_at, respond_by);
