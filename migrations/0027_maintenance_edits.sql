-- Windows can be edited before they start (title, description, planned times, components):
-- the window's log records each edit with the values before and after.
alter table maintenance_events drop constraint maintenance_events_kind_check;
alter table maintenance_events add constraint maintenance_events_kind_check
    check (kind in ('created', 'scheduled', 'item_added', 'item_ticked', 'item_unticked',
                    'started', 'update_posted', 'verifying', 'completed', 'rolled_back', 'cancelled',
                    'signal_suppressed', 'signal_checked', 'edited'));
