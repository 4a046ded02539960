-- PL/pgSQL keeps each statement's plan for the life of the connection. In
-- a new database, `submit_annotation`'s plans are made while `assignments`
-- and `annotations` are nearly empty, when a sequential scan is the
-- cheapest way to find a row by key, and they stay the plans while the
-- tables grow until autovacuum's next ANALYZE (up to a minute): by then
-- each submit read every assignment and annotation (auto_explain under
-- scripts/bench: 1,500 rows a statement after a few seconds of load). With
-- sequential scans priced out, the kept plans use the indexes at any size.
-- (Analyzing sooner, with autovacuum_naptime = 5s, was tried and dropped:
-- the extra vacuums and re-plans cost more at the 99th percentile.)
alter function submit_annotation(uuid, uuid, uuid, uuid, uuid, json, double precision, int, smallint,
                                 boolean, text, text)
    set enable_seqscan = off;
