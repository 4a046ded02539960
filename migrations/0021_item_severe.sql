-- Whether an item's source labels say severity 3 (severe) for some response:
-- the annotate page shows a content note before such an item. The lease
-- used to work this out on every call by parsing `source_labels` (json, so
-- parsed from text each time), a few percent of the database's CPU under
-- the annotation load. The import now stores it (crates/server/src/import/
-- copy.rs); this fills it in for items imported before. Source labels are
-- never changed after import, so it stays current. (Not a generated column:
-- PostgreSQL 15 recomputes those on every update of the row, and the queue
-- updates an item's counters several times per annotation.)
alter table items add column severe boolean not null default false;
update items i set severe = true
 where json_typeof(i.source_labels) = 'object'
   and exists (select 1 from json_each(i.source_labels) e
                where e.key like 'response\_%\_severity\_level' and e.value::text = '3');
