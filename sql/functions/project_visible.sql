-- Whether `viewer` may see the project: admins see every project; a crowd
-- worker only the one they joined; everyone else the open projects and
-- those they are a member of (issue 25). Every query that lists, finds or
-- leases for a person asks this, so the rule has one home. (The arguments'
-- names differ from every column's: in a SQL function a column wins.)
create or replace function project_visible(project uuid, project_access text, viewer uuid)
returns boolean language sql stable as $$
    select case
        when u.role = 'admin' then true
        when u.crowd_project_id is not null then u.crowd_project_id = project
        else project_access = 'open'
            or exists (
                select 1 from project_members m
                 where m.project_id = project and m.user_id = viewer)
    end
    from users u
    where u.id = viewer
$$;
