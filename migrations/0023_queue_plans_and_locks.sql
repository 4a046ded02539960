-- The annotation load (issue 10), measured with pg_stat_statements and
-- auto_explain under scripts/bench.

-- A foreign key check locks the row it points to (FOR KEY SHARE). Every
-- new annotation and assignment pointed at its project's one row, so with
-- many annotators that row always carried a multixact of lockers, and
-- every read of the project (each submit reads it) had to resolve one:
-- 0.22 ms per read instead of 0.05. The item's key already ties both
-- tables to their project (items.project_id references projects, and the
-- item keys reference items), so these two checks add no safety.
alter table annotations drop constraint annotations_project_id_fkey;
alter table assignments drop constraint assignments_project_id_fkey;
