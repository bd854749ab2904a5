-- Each person's own contact methods, and outbox rows addressed to one of them instead of a
-- channel.

create table contact_methods (
    id         uuid primary key,
    user_id    uuid not null references users (id) on delete cascade,
    kind       text not null check (kind in ('slack', 'webhook', 'pagerduty', 'email')),
    -- What the person calls it ("Phone via PagerDuty"); pages show "Maya's <label>".
    label      text not null check (char_length(label) between 1 and 100),
    -- slack: a member ID (U024BE7LH); webhook: an http(s) URL; pagerduty: an Events API v2
    -- routing key; email: an address. Checked by the use case; never shown unmasked except to
    -- its owner and admins (a webhook URL is masked everywhere).
    target     text not null check (char_length(target) between 1 and 2000),
    -- Webhook: the HMAC-SHA256 signing key (required); other kinds: none. Never shown.
    secret     text,
    enabled    boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint contact_methods_target_key unique (user_id, kind, target),
    constraint contact_methods_label_key unique (user_id, label),
    constraint contact_methods_secret_check check ((kind = 'webhook') = (secret is not null))
);

-- What the configuration lets paging do, recorded at every start like the configured channels
-- (the escalation hooks run in a transaction, without the configuration): whether pages send a
-- Slack direct message to a member ID (TWISTERLAB_SLACK_BOT_TOKEN is set). One row.
create table paging_settings (
    singleton             boolean primary key default true check (singleton),
    slack_direct_messages boolean not null default false,
    updated_at            timestamptz not null default now()
);
insert into paging_settings default values;

-- Outbox rows go to a channel or to one person's contact method, never both.
alter table notifications alter column channel_id drop not null;
alter table notifications
    add column contact_method_id uuid references contact_methods (id) on delete cascade;
alter table notifications
    add constraint notifications_one_target_check check (num_nonnulls(channel_id, contact_method_id) = 1);
-- The queue a row belongs to: rows of one incident to one target go out in creation order.
alter table notifications
    add column target_id uuid generated always as (coalesce(channel_id, contact_method_id)) stored;

drop index notifications_order_idx;
create index notifications_order_idx on notifications (target_id, incident_id, seq)
    where state in ('pending', 'delivering', 'failed');
create index notifications_contact_method_idx on notifications (contact_method_id)
    where contact_method_id is not null;
