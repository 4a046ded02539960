-- Adjudications (a lead's final labels for an item; the newest wins) and
-- background export jobs.

create table adjudications (
    id          uuid primary key,
    item_id     uuid not null references items(id) on delete cascade,
    lead_id     uuid not null references users(id),
    labels      jsonb not null,                       -- the API's labels shape
    reason      text not null check (length(reason) between 1 and 2000),
    created_at  timestamptz not null default now()
);
create index adjudications_item_idx on adjudications (item_id, created_at desc);

create type export_state as enum ('running', 'done', 'failed');

-- One export run from the admin page. Files live under the data directory
-- (exports/<id>/); `heartbeat_at` moves while the job runs, so a job whose
-- process died shows as interrupted instead of running forever.
create table export_jobs (
    id            uuid primary key,
    project_id    uuid not null references projects(id) on delete cascade,
    requested_by  uuid references users(id),
    options       jsonb not null,
    state         export_state not null default 'running',
    items_total   bigint not null default 0,
    items_done    bigint not null default 0,
    error         text,
    manifest      jsonb,
    created_at    timestamptz not null default now(),
    heartbeat_at  timestamptz not null default now(),
    finished_at   timestamptz
);
create index export_jobs_project_idx on export_jobs (project_id, created_at desc);
