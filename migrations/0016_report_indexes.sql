-- Indexes for the managers' reports: pages by time (on-call load) and escalations by incident
-- and kind (share escalated to the manager).
create index timeline_events_pages_idx on timeline_events (at) where kind in ('notified', 'escalated');
create index escalations_incident_kind_idx on escalations (incident_id, kind);
-- The report reads the incidents started in a period with the columns it aggregates.
create index incidents_report_idx on incidents (started_at) include (severity, acknowledged_at, resolved_at, respond_by);
