-- The review dashboard under a second at 100,000 items × 300,000
-- annotations (found with EXPLAIN (ANALYZE, BUFFERS) under
-- scripts/bench-dashboard). Every figure read fresh on each view was a scan
-- of a whole heap: `items` is wide (prompt, source labels: ~4 KB a row), and
-- `invalidated_at is null` sent every annotation count to the heap. These
-- indexes let the page's queries read narrow index entries instead.

-- The report's pass in item order, valid annotations only: a merge join
-- with the items index below streams rows without sorting them.
create index annotations_valid_item_idx on annotations (project_id, item_id)
    where invalidated_at is null;

-- Valid work over time (the chart, the pace, today's counts, the cache's
-- fingerprint), read from the index alone.
create index annotations_valid_time_idx on annotations (project_id, submitted_at)
    include (annotator_id, item_id, suggestion_mode)
    where invalidated_at is null;

-- A project's items with what progress counts, in id order: the pass's
-- join, batch filters, item counts, progress per batch and the review
-- queue's candidates without reading the wide rows. `leased` stays out of
-- every index, so a lease's counter update stays HOT (see 0003).
create index items_dashboard_idx on items (project_id, id)
    include (batch_seq, seq, state, done);
