-- Exports read a project's items in batch and file order, a range of keys at
-- a time (two connections share the work): this index lets each range start
-- streaming at once, where a sort of the whole project (spilling to disk)
-- held back every row until the last one was read.
create index items_export_idx on items (project_id, batch_seq, seq);
