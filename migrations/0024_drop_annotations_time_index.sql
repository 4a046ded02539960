-- Every submit writes an entry into each index of `annotations`. This one,
-- (project_id, submitted_at) over every annotation, serves no query since
-- 0017: the project-wide time queries (the dashboard's chart, the pace,
-- today's counts) count valid annotations only and read
-- annotations_valid_time_idx; an annotator's own history reads
-- annotations_annotator_idx.
drop index annotations_project_time_idx;
