-- "Not already this annotator's" in the lease (for regular and gold
-- candidates) probes the annotator's assignments. Without an index led by
-- the annotator, PostgreSQL's plan scanned every assignment of the table
-- for each lease (found with EXPLAIN ANALYZE under the benchmark), so a
-- lease grew slower with every annotation.
create index assignments_annotator_idx on assignments (annotator_id, item_id);
