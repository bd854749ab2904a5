-- Incidents people can correct: a commander's change of title, summary or visibility is a
-- `details_changed` event (data: field, before, after), and taking a public incident declared by
-- mistake off the status page is a `withdrawn` event (data: reason). Nothing in the timeline is
-- edited in place; the incident row's current values change through the use case.
alter table timeline_events drop constraint timeline_events_kind_check;
alter table timeline_events add constraint timeline_events_kind_check check (kind in (
    'declared', 'acknowledged', 'status_changed', 'severity_changed', 'role_assigned',
    'note', 'public_update', 'component_impact_changed', 'link_added', 'escalated', 'notified', 'sla_breached',
    'runbook_step', 'kubernetes_action', 'health_signal', 'resolved', 'reopened',
    'details_changed', 'withdrawn'));
