-- Gives every imported item three annotations straight in SQL, each the
-- item's source labels (one annotator in ten prefers the other response on
-- helpfulness, so majority vote still recovers the source): the set-up of
-- scripts/bench-export and scripts/check-datasets. Annotators bench-1..3.
insert into users (id, username, role) select gen_random_uuid(), 'bench-' || n, 'annotator' from generate_series(1, 3) n;
insert into annotations (id, item_id, annotator_id, project_id, labels, seconds_spent)
select gen_random_uuid(), i.id, u.id, i.project_id,
       json_build_object(
         'responses', json_build_array(
            json_build_object('safe', (s->>'is_response_0_safe')::bool, 'severity', (s->>'response_0_severity_level')::int,
              'categories', (select coalesce(json_agg(key), '[]'::json) from jsonb_each_text(s->'response_0_harm_category') where value = 'true')),
            json_build_object('safe', (s->>'is_response_1_safe')::bool, 'severity', (s->>'response_1_severity_level')::int,
              'categories', (select coalesce(json_agg(key), '[]'::json) from jsonb_each_text(s->'response_1_harm_category') where value = 'true'))),
         'helpfulness', case when u.username = 'bench-3' and hashtext(i.id::text) % 10 = 0
                             then json_build_array(1 - (s->>'better_response_id')::int, (s->>'better_response_id')::int)
                             else json_build_array((s->>'better_response_id')::int, 1 - (s->>'better_response_id')::int) end,
         'harmlessness', json_build_array((s->>'safer_response_id')::int, 1 - (s->>'safer_response_id')::int))::jsonb,
       10
from (select id, project_id, source_labels::jsonb as s from items) i
cross join users u where u.username like 'bench-%';
update items set done = 3, state = 'complete';
analyze;
