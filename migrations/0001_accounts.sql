-- Accounts, sessions, sign-in throttling and the audit log.

create type user_role as enum ('annotator', 'lead', 'admin');

create table users (
    id            uuid primary key,
    username      text not null unique check (length(username) between 1 and 64),
    password_hash text,                       -- argon2id PHC string; null for crowd workers who join by link
    role          user_role not null default 'annotator',
    disabled      boolean not null default false,
    external_id   text,                       -- a crowd platform's worker id
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

-- Only a hash of the cookie token is stored: a copy of this table signs nobody in.
create table sessions (
    token_hash   bytea primary key,
    user_id      uuid not null references users(id) on delete cascade,
    csrf_token   text not null,
    created_at   timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at   timestamptz not null,        -- the absolute limit
    user_agent   text
);
create index sessions_user_idx on sessions (user_id);
create index sessions_expires_idx on sessions (expires_at);

-- Failed sign-ins, counted per username and per client address for throttling.
create table sign_in_failures (
    id         bigint generated always as identity primary key,
    username   text not null,
    client     text not null,
    at         timestamptz not null default now()
);
create index sign_in_failures_username_idx on sign_in_failures (lower(username), at);
create index sign_in_failures_client_idx on sign_in_failures (client, at);

-- Append-only record of who changed what.
create table audit_log (
    id         bigint generated always as identity primary key,
    actor_id   uuid references users(id),
    action     text not null,
    subject    text not null,
    before     jsonb,
    after      jsonb,
    at         timestamptz not null default now()
);
create index audit_log_at_idx on audit_log (at desc);

create function audit_log_is_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only';
end $$;
create trigger audit_log_append_only before update or delete on audit_log
    for each row execute function audit_log_is_append_only();
