-- The project an audit entry is about (made in migration 0029): the one its
-- subject names (`project:`, `item:`, `annotation:` followed by an id), else
-- a `project` key of its after or before; null if it names none.
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
