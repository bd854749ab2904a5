-- Components follow their health signals (issue 14): a down service counts against its
-- component until it has passed enough checks in a row again, so a flapping service does not
-- flap the public page; and whether the incidents a service declares are public.

-- Passing checks in a row that bring a down service's component back (flapping suppression).
alter table health_services
    add column passes_before_up integer not null default 2 check (passes_before_up between 1 and 100);
-- Whether an incident the service declares is public at once; false: private until a
-- commander publishes it (its component impact still shows through counts_down).
alter table health_services
    add column public_incidents boolean not null default false;

-- Successful checks in a row (0 after a failure).
alter table health_service_state
    add column consecutive_passes integer not null default 0;
-- Whether the service counts against its component on the status page: set when it goes down,
-- cleared after passes_before_up passing checks in a row.
alter table health_service_state
    add column counts_down boolean not null default false;

update health_service_state set counts_down = true where state = 'down';
