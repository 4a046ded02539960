-- Projects, the batches imported into them, their items and responses.

create table projects (
    id                    uuid primary key,
    name                  text not null unique check (length(name) between 1 and 200),
    guidelines            text not null default '',        -- Markdown, rendered without raw HTML
    responses_per_item    int  not null default 2 check (responses_per_item between 2 and 8),       -- K
    annotations_per_item  int  not null default 3 check (annotations_per_item between 1 and 10),    -- k, the overlap
    lease_seconds         int  not null default 600 check (lease_seconds between 30 and 86400),
    questions             jsonb not null,                   -- safepref_core::labels::Questions
    taxonomy              jsonb not null,                   -- safepref_core::taxonomy::Taxonomy
    gold_rate             double precision not null default 0 check (gold_rate between 0 and 0.2),
    wellbeing             jsonb not null,                   -- blur, content notes, breaks, daily cap
    created_by            uuid references users(id),
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now()
);

create table batches (
    id                  uuid primary key,
    project_id          uuid not null references projects(id) on delete cascade,
    seq                 int  not null,                      -- batch order within the project
    file_name           text not null,
    sha256              text not null,                      -- of the file as uploaded
    rows_read           int  not null,
    items_imported      int  not null,
    duplicates_skipped  int  not null,
    hash_mismatches     int  not null default 0,
    imported_by         uuid references users(id),          -- null: the command line
    imported_at         timestamptz not null default now(),
    unique (project_id, sha256),
    unique (project_id, seq)
);

create type item_state as enum ('pending', 'complete', 'adjudicated');

create table items (
    id             uuid primary key,
    project_id     uuid not null references projects(id) on delete cascade,
    batch_id       uuid not null references batches(id) on delete cascade,
    seq            int  not null,                           -- order within the batch (the file's order)
    external_id    text,
    prompt         text not null,
    prompt_source  text,
    content_hash   bytea not null,                          -- identity of prompt + responses, for duplicates
    -- json, not jsonb: stored as given and cheap to check on import (jsonb's
    -- parsing was a fifth of the import's database time); read, not searched.
    source_labels  json,                                    -- a PKU record's labelled fields, as imported
    gold           json,                                    -- expected labels (the API's labels shape)
    state          item_state not null default 'pending'
);
create index items_batch_idx on items (batch_id, seq);
create index items_project_hash_idx on items (project_id, content_hash);

create table responses (
    item_id   uuid not null references items(id) on delete cascade,
    position  smallint not null check (position between 0 and 7),
    text      text not null,
    source    text,
    primary key (item_id, position)
);

-- Human annotations: one per annotator and item. The queue (assignments,
-- leases, submission ids) builds on this table.
create table annotations (
    id            uuid primary key,
    item_id       uuid not null references items(id) on delete restrict,
    annotator_id  uuid not null references users(id),
    labels        jsonb not null,
    submitted_at  timestamptz not null default now(),
    unique (item_id, annotator_id)
);
