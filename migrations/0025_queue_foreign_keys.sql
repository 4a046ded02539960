-- The annotation load (issue 10): three foreign key checks fewer per
-- annotation. Each check is a query of its own inside the statement, and
-- each locks the row it points to (FOR KEY SHARE), which writes to that
-- row: every submit and lease locked its annotator's `users` row, and the
-- 64 annotators of scripts/bench share a few pages of `users`.
--
-- What still guarantees each reference:
-- - `annotator_id` (annotations, assignments): users are never deleted
--   (an account is disabled instead; the audit log names them), and the
--   queue writes only the signed-in user's own id.
-- - `annotations.assignment_id`: an assignment is deleted only with its
--   item (on delete cascade), and an item with an annotation cannot be
--   deleted (annotations.item_id, on delete restrict, which stays).
alter table annotations drop constraint annotations_annotator_id_fkey;
alter table annotations drop constraint annotations_assignment_id_fkey;
alter table assignments drop constraint assignments_annotator_id_fkey;
