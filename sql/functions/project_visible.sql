-- Whether `viewer` may see the project: admins see every project; a crowd
-- worker only the one they joined; everyone else the open projects and
-- those they are a member of (issue 25). Every query that lists, finds or
-- leases for a person asks this, so the rule has one home.
--
-- PL/pgSQL, not SQL: a SQL function with a FROM clause is not inlined, so
-- each statement calling it parsed and planned its body again (0.42 ms of
-- the 0.46 ms a submit's project read took); PL/pgSQL keeps the plan per
-- connection (0.09 ms).
create or replace function project_visible(project uuid, project_access text, viewer uuid)
returns boolean language plpgsql stable as $$
declare
    seen boolean;
begin
    select case
        when u.role = 'admin' then true
        when u.crowd_project_id is not null then u.crowd_project_id = project
        else project_access = 'open'
            or exists (
                select 1 from project_members m
                 where m.project_id = project and m.user_id = viewer)
    end
      into seen
      from users u
     where u.id = viewer;
    return seen;
end
$$;
