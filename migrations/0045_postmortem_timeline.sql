-- A postmortem's state changes (draft started, sent to review, published) are part of the
-- incident's story: each is a `postmortem_state_changed` event (data: from, to; `from` is null
-- when the draft starts). The kind check keeps every kind of 0035 and adds this one.
alter table timeline_events drop constraint timeline_events_kind_check;
alter table timeline_events add constraint timeline_events_kind_check check (kind in (
    'declared', 'acknowledged', 'status_changed', 'severity_changed', 'role_assigned',
    'note', 'public_update', 'component_impact_changed', 'link_added', 'escalated', 'notified', 'sla_breached',
    'runbook_step', 'kubernetes_action', 'health_signal', 'resolved', 'reopened',
    'details_changed', 'withdrawn', 'postmortem_state_changed'));
