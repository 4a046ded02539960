-- Labels are written once and read many times (reports, the dashboard,
-- exports), and never searched inside by the queue. Stored as jsonb, every
-- read made PostgreSQL turn the binary form back into text: about 1 s of
-- database CPU per 1,000,000 annotations exported (measured with COPY of
-- the column, jsonb 1.24 s against 0.26 s for json). json keeps the text
-- as written, so a read is a copy. The few SQL filters that look inside
-- (the review queue's category and severity) cast to jsonb.
alter table annotations alter column labels type json using labels::json;
alter table adjudications alter column labels type json using labels::json;
