-- A model asked for suggestions by safepref itself (`safepref suggest` and
-- the admin page's job), through an OpenAI-compatible chat endpoint.

-- The judge prompt templates used, by version: the first 12 hex digits of
-- the SHA-256 of the text. A suggestion's source is the model's name and
-- this version, so answers to two prompts are never mixed.
create table judge_templates (
    version     text primary key check (version ~ '^[0-9a-f]{12}$'),
    text        text not null,
    created_at  timestamptz not null default now()
);

-- The template that asked for a suggestion; null for suggestions that came
-- in through the API or a file.
alter table suggestions add column template_version text references judge_templates(version);

-- Each run: what it asked, how far it got, how it ended. The API key is
-- never stored; the endpoint is refused if it carries credentials.
create table judge_runs (
    id               uuid primary key,
    project_id       uuid not null references projects(id) on delete cascade,
    requested_by     uuid references users(id),
    origin           text not null check (origin in ('cli', 'page')),
    endpoint         text not null,
    model            text not null,
    source           text not null,
    template_version text not null references judge_templates(version),
    options          jsonb not null,
    state            text not null default 'running'
        check (state in ('running', 'done', 'failed', 'interrupted')),
    items_total      bigint not null default 0,
    items_done       bigint not null default 0,
    stored           bigint not null default 0,
    tokens_in        bigint,
    tokens_out       bigint,
    error            text,
    created_at       timestamptz not null default now(),
    heartbeat_at     timestamptz not null default now(),
    finished_at      timestamptz
);
create index judge_runs_project_idx on judge_runs (project_id, created_at desc);

-- Every call that gave no suggestion: an answer that was not labels (its
-- raw text kept for admins to read) or a call that failed after its retries.
create table judge_failures (
    id          bigserial primary key,
    run_id      uuid not null references judge_runs(id) on delete cascade,
    item_id     uuid not null references items(id) on delete cascade,
    attempt     smallint not null check (attempt >= 1),
    kind        text not null check (kind in ('not_json', 'label_rules', 'unknown_category',
                    'timeout', 'server_error', 'rate_limited', 'connection', 'bad_response')),
    message     text not null,
    raw         text,
    created_at  timestamptz not null default now()
);
create index judge_failures_run_idx on judge_failures (run_id, id);
