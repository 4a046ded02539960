-- Who works on which project (issue 25). A project is `open` (every
-- annotator and lead may work on it, as before) or `members` (only the
-- people in `project_members`, besides admins). Crowd workers stay bound to
-- their one project by `users.crowd_project_id` and need no membership.
alter table projects add column access text not null default 'open'
    check (access in ('open', 'members'));

create table project_members (
    project_id uuid not null references projects(id) on delete cascade,
    user_id    uuid not null references users(id),
    added_by   uuid references users(id),
    added_at   timestamptz not null default now(),
    primary key (project_id, user_id)
);
-- "Which projects may this person see", asked by every page and lease.
create index project_members_by_user_idx on project_members (user_id, project_id);

-- The project an audit entry is about, so that a lead reads only the
-- entries of projects they may see. A trigger fills it on insert, so no
-- caller can forget it; null: the entry names no project (accounts,
-- sign-in). The two functions' current text is in sql/functions/.
alter table audit_log add column project_id uuid;
create index audit_log_project_idx on audit_log (project_id, id desc);

create or replace function audit_entry_project(subject text, before jsonb, after jsonb)
returns uuid language plpgsql stable as $$
declare
    uuid_text constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    kind text := split_part(subject, ':', 1);
    subject_id text := substr(subject, length(kind) + 2);
    named text := coalesce(after ->> 'project', before ->> 'project');
begin
    if subject_id ~ uuid_text then
        case kind
            when 'project' then return subject_id::uuid;
            when 'item' then return (select i.project_id from items i where i.id = subject_id::uuid);
            when 'annotation' then return (select a.project_id from annotations a where a.id = subject_id::uuid);
            else null;
        end case;
    end if;
    if named ~ uuid_text then
        return named::uuid;
    end if;
    return null;
end $$;

create or replace function audit_log_project() returns trigger language plpgsql as $$
begin
    new.project_id := coalesce(new.project_id, audit_entry_project(new.subject, new.before, new.after));
    return new;
end $$;

create trigger audit_log_project before insert on audit_log
    for each row execute function audit_log_project();

-- The entries written before this migration get their project too: the
-- log stays append-only for everyone else, the new column is derived from
-- what each entry already says.
alter table audit_log disable trigger audit_log_append_only;
update audit_log set project_id = audit_entry_project(subject, before, after);
alter table audit_log enable trigger audit_log_append_only;
