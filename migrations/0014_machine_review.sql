-- The review flags' refresh looks for items whose machine suggestions were
-- stored or replaced since its last run (db::review::changed_items).
create index suggestions_created_idx on suggestions (created_at);
