-- Personal API tokens for scripts. Like sessions, only a SHA-256 of the
-- token is stored: a copy of this table lets nobody in. A token acts as its
-- owner with the owner's current role; revoking keeps the row (for the list
-- and the audit trail) and stops the token at once.
create table api_tokens (
    id            uuid primary key,
    user_id       uuid not null references users(id) on delete cascade,
    name          text not null check (length(name) between 1 and 100),
    token_hash    bytea not null unique,
    created_at    timestamptz not null default now(),
    last_used_at  timestamptz,
    expires_at    timestamptz,                  -- null: never
    revoked_at    timestamptz
);
create index api_tokens_user_idx on api_tokens (user_id, created_at desc);
