-- Gold items mixed into the queue, feedback on them, and crowd entry links.

-- Gold items (items with expected labels), in a project with a gold rate,
-- are leased by their own path: each annotator may get every gold item once,
-- whatever k, at the project's gold rate.
create index items_gold_idx on items (project_id, id) where gold is not null;

alter table projects
    -- After submitting a gold item the annotator sees the expected labels.
    add column gold_feedback          boolean not null default false,
    -- Crowd entry: /p/{slug}/join?worker_id=…&study=…&token=…
    add column slug                   text unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,22}$'),
    add column crowd_token            text check (length(crowd_token) between 16 and 200),   -- null: the link is closed
    add column crowd_quota            int check (crowd_quota between 1 and 100000),          -- items per worker
    add column crowd_completion_code  text check (length(crowd_completion_code) between 4 and 100);

-- A crowd worker is an annotator bound to one project and the platform's
-- worker id; they sign in by the project's entry link only (no password).
alter table users add column crowd_project_id uuid references projects(id);
create unique index users_crowd_idx on users (crowd_project_id, external_id)
    where crowd_project_id is not null;

-- Joins by entry link, per client address, for rate limiting (kept in the
-- database so the limit holds across processes).
create table crowd_joins (
    id          bigint generated always as identity primary key,
    client      text not null,
    at          timestamptz not null default now()
);
create index crowd_joins_client_idx on crowd_joins (client, at);
