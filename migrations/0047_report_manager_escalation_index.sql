-- The report's "escalated to manager" share asks, for each incident of the period, whether it
-- has a manager escalation. Without an index on that kind alone the planner hashed every
-- escalation of every kind (45,400 in bench/managers.sh, a sequential scan); the manager
-- escalations are about a tenth of them and come from this index alone.
create index escalations_manager_idx on escalations (incident_id) where kind = 'manager_escalation';
