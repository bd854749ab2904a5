-- Accounts: users, server-side sessions, API tokens and sign-in throttling.

create table users (
    id                   uuid primary key,
    -- Stored as typed; uniqueness is case-insensitive (index below).
    email                text not null,
    display_name         text not null,
    role                 text not null check (role in ('viewer', 'responder', 'commander', 'manager', 'admin')),
    active               boolean not null default true,
    -- argon2id PHC string; re-hashed at sign-in when the parameters change.
    password_hash        text not null,
    -- Set by an admin's password reset: the next sign-in must choose a new password.
    must_change_password boolean not null default false,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    last_sign_in_at      timestamptz
);

create unique index users_email_key on users (lower(email));

create table sessions (
    id           uuid primary key,
    -- SHA-256 of the cookie's 256-bit random token; the token itself is never stored.
    token_hash   bytea not null unique,
    user_id      uuid not null references users (id) on delete cascade,
    -- Synchronizer token for forms of this session (OWASP CSRF primary defence).
    csrf_token   text not null,
    created_at   timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    -- Absolute expiry; the idle timeout is checked against last_seen_at.
    expires_at   timestamptz not null,
    client_addr  text,
    user_agent   text
);

create index sessions_user_idx on sessions (user_id);
create index sessions_expires_idx on sessions (expires_at);

create table api_tokens (
    id           uuid primary key,
    user_id      uuid not null references users (id) on delete cascade,
    name         text not null,
    -- Never higher than the owner's role when created; the lower of both applies at use.
    role         text not null check (role in ('viewer', 'responder', 'commander', 'manager', 'admin')),
    -- SHA-256 of the token; tokens are 256-bit random, so a fast hash is enough.
    token_hash   bytea not null unique,
    -- First characters of the token, shown so people can tell their tokens apart.
    prefix       text not null,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

create index api_tokens_user_idx on api_tokens (user_id, created_at desc);
create unique index api_tokens_live_name_key on api_tokens (user_id, lower(name)) where revoked_at is null;

-- Failed sign-ins per account ('account:<email>') and per client address ('address:<ip>'),
-- in PostgreSQL so every replica sees the same counts.
create table sign_in_throttle (
    key              text primary key,
    failures         integer not null default 0,
    last_failure_at  timestamptz not null default now(),
    locked_until     timestamptz
);
