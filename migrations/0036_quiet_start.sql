-- A fresh install starts quiet (issue 17): it probes nothing until an admin adds or enables a
-- service. The three TwisterLab services seeded by 0006 point at hosts that exist only inside
-- TwisterLab's own network; elsewhere they failed within a minute of the first start, declared
-- a P1 and a P2 and turned the public page red. They stay as ready-made entries (the runbook's
-- URLs and expectations), disabled until an admin sets the URL and enables them.

-- Shipped with the portal rather than written by an admin: the services page offers such an
-- entry as "ready-made" while it is disabled.
alter table health_services add column ready_made boolean not null default false;

update health_services set ready_made = true
 where id in ('0193a000-0000-7000-8000-000000000101',
              '0193a000-0000-7000-8000-000000000102',
              '0193a000-0000-7000-8000-000000000103');

-- Existing installs: only a seeded entry nobody ever touched and that never answered is
-- disabled. "Touched" is knowable: every edit (admin pages or the configuration file's
-- [[services]]) moves updated_at past created_at, and a file takes an entry over by setting
-- managed_by_file. "Never answered" (no successful probe recorded) means it was probing a host
-- this installation does not have; one that ever answered is monitoring something real and
-- keeps running. A disabled service no longer counts against its component; the start-up
-- reconciliation of the status history records that change. Incidents such an entry already
-- declared stay as they are (people may have worked them).
update health_services s
   set enabled = false
 where s.ready_made
   and s.enabled
   and not s.managed_by_file
   and s.updated_at = s.created_at
   and not exists (select 1 from health_service_state st
                    where st.service_id = s.id and st.last_ok_at is not null);

update health_service_state st
   set counts_down = false, lease_owner = null, lease_until = null
  from health_services s
 where s.id = st.service_id and not s.enabled and s.ready_made;
