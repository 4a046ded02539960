-- A project's settings are read on every lease and every submit (twice per
-- annotation) and only ever read whole, never searched inside. As jsonb,
-- each read made PostgreSQL turn the binary form back into text (the
-- taxonomy alone is a few kilobytes): about 3 % of the database's CPU under
-- the annotation load. json is sent as stored. (The same reasoning as
-- migration 0015 for labels.)
alter table projects
    alter column questions type json using questions::json,
    alter column taxonomy type json using taxonomy::json,
    alter column wellbeing type json using wellbeing::json,
    alter column suggestions type json using suggestions::json;
