-- `serve --demo` (issue 17): simulated TwisterLab services inside the portal process, probed by
-- services the demo creates. Those rows are demo data: marked here, named demo-…, probed only
-- by a portal started with --demo, and disabled by any start without it.
alter table health_services add column demo boolean not null default false;
alter table health_services add constraint health_services_demo_name
    check (not demo or name like 'demo-%');

comment on column health_services.demo is
    'Created by serve --demo for a simulated service inside the portal; never probed without --demo.';
comment on column health_services.ready_made is
    'Shipped with the portal (the runbook''s TwisterLab services), offered as a ready-made entry while disabled.';
