-- The status page rebuild reads the open public incidents and the recently resolved ones, and
-- the history pages read public incidents page by page (keyset on start and number): partial
-- indexes keep each of these reads proportional to what it returns, not to every incident ever
-- declared (measured at 100,000 incidents in bench/status_rebuild.sh).
create index incidents_public_open_idx on incidents (started_at desc, number desc)
    where not private and status <> 'resolved';
create index incidents_public_resolved_idx on incidents (resolved_at desc, number desc)
    where not private and status = 'resolved';
create index incidents_public_history_idx on incidents (started_at desc, number desc)
    where not private;
