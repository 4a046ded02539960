-- The review queue's flagged items, kept up to date incrementally: finding
-- them means consolidating every item's votes, too slow to repeat on every
-- page view of a large project. `review::refresh_flags` reconsolidates only
-- the items whose votes or unclear skips changed since the last refresh and
-- rewrites their rows; the page then filters, orders and pages in SQL.

-- One row per item that needs review (its reasons are never empty). The
-- reasons depend only on the item's valid votes, gold labels and unclear
-- skips, not on the page's filters or the item's state.
create table review_flags (
    item_id      uuid primary key references items(id) on delete cascade,
    project_id   uuid not null references projects(id) on delete cascade,
    batch_seq    int not null,
    seq          int not null,
    min_support  double precision not null,
    annotations  int not null,
    reasons      text[] not null check (cardinality(reasons) > 0)
);
-- The queue's order: lowest support first, then batch and file order.
create index review_flags_order_idx on review_flags (project_id, min_support, batch_seq, seq);

-- Up to when a project's flags are computed. `refreshed_at` is the start of
-- the refresh's snapshot; `settings` and `gold` summarise what, when it
-- changes, makes every item's flags stale (a full refresh).
create table review_flags_state (
    project_id    uuid primary key references projects(id) on delete cascade,
    refreshed_at  timestamptz not null,
    settings      text not null,
    gold          text not null
);

-- What changed since a time: annotations submitted or revised
-- (`updated_at` starts at the submission time), invalidated, and skips.
create index annotations_project_updated_idx on annotations (project_id, updated_at);
create index annotations_project_invalidated_idx on annotations (project_id, invalidated_at)
    where invalidated_at is not null;
create index assignments_project_skipped_idx on assignments (project_id, ended_at)
    where state = 'skipped';
