-- A submission refused because its lease ran out is remembered on the
-- assignment, so a retry of the same submission (a double click, a second
-- server) gets the same refusal even if a place has opened in between:
-- submitting twice always answers the same (queue invariant 4).
alter table assignments add column refused_submission uuid;
