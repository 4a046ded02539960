-- Machine suggestions beside human labels.

-- One row per item and source (model): labels in the API's labels shape and
-- an optional score per field (safepref_core::suggestions). Kept apart from
-- annotations: nothing mixes them in unless a project or an export says so.
create table suggestions (
    item_id     uuid not null references items(id) on delete cascade,
    source      text not null check (length(source) between 1 and 100),
    labels      jsonb not null,
    scores      jsonb not null default '{}',
    created_at  timestamptz not null default now(),
    primary key (item_id, source)
);

-- How a project uses suggestions: what annotators see, the source shown,
-- and the routing rule (safepref_core::suggestions::Policy).
alter table projects add column suggestions jsonb not null default '{}';

-- What the annotator saw when labelling: 'blind', 'hint' or 'prefill' (the
-- project's display mode, 'blind' when the item had no suggestion to show),
-- so statistics can tell anchored labels from blind ones.
alter table annotations add column suggestion_mode text not null default 'blind'
    check (suggestion_mode in ('blind', 'hint', 'prefill'));

-- Items the routing rule finished early: a confident source and the first
-- person agreed, so the item completed with one human annotation.
alter table items add column routed boolean not null default false;

-- Side files of suggestions name items by their external id.
create index items_external_id_idx on items (project_id, external_id) where external_id is not null;
