-- Browsers that signed in successfully (finding 1 of the security review): a correct password
-- from a known device passes the per-account sign-in lock, so a stranger's wrong guesses cannot
-- lock the on-call commander out. The cookie holds a random token; only its SHA-256 is stored.
create table known_devices (
    token_hash    bytea primary key,
    user_id       uuid not null references users (id) on delete cascade,
    created_at    timestamptz not null default now(),
    -- Last successful sign-in from the device; devices unused for 180 days are forgotten.
    last_used_at  timestamptz not null default now()
);

create index known_devices_user_idx on known_devices (user_id);

-- The lock period whose first refused attempt has its audit row (finding 4): later attempts
-- during the same lock are refused without another row, so a locked key cannot grow the log.
alter table sign_in_throttle add column lock_audited timestamptz;
