-- A component's pinned status overrides what the portal computes from incidents (and later
-- maintenance windows and probes), as the admin page says; 0003's comment said so too, while
-- the code took the worse of the two. The column comment states the rule in the schema.

comment on column components.manual_status is
    'A status an admin pinned: the public status page shows it instead of the computed one (incident impacts, maintenance, probes) until it is removed. Null: computed.';
comment on column components.manual_reason is
    'Why the status was pinned; shown to admins only, never on the status page.';
