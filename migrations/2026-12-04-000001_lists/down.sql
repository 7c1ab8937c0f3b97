DELETE FROM todo_events WHERE todo_id IS NULL;
ALTER TABLE todo_events DROP CONSTRAINT todo_events_kind_check;
ALTER TABLE todo_events ADD CONSTRAINT todo_events_kind_check CHECK (kind IN ('CREATED', 'UPDATED', 'DELETED'));
ALTER TABLE todo_events ALTER COLUMN todo_id SET NOT NULL;
ALTER TABLE todo_events DROP COLUMN from_list_id;
ALTER TABLE todo_events DROP COLUMN list_id;

-- Todos of shared lists go back to their creators (todos.owner_id).
DROP INDEX todos_owner_idx;
DROP INDEX todos_list_position_idx;
DROP INDEX todos_list_created_idx;
DROP INDEX todos_list_updated_idx;
DROP INDEX todos_list_due_idx;
DROP INDEX todos_list_completed_idx;
ALTER TABLE todos DROP CONSTRAINT todos_list_fkey;
ALTER TABLE todos DROP COLUMN position;
ALTER TABLE todos DROP COLUMN list_id;
CREATE INDEX todos_owner_created_idx ON todos (owner_id, created_at, id);
CREATE INDEX todos_owner_updated_idx ON todos (owner_id, updated_at, id);
CREATE INDEX todos_owner_due_idx     ON todos (owner_id, due_at, id);
CREATE INDEX todos_owner_completed_idx ON todos (owner_id, completed);

DROP TRIGGER users_default_list ON users;
DROP FUNCTION users_default_list();
DROP TRIGGER users_default_list_id ON users;
DROP FUNCTION users_default_list_id();
ALTER TABLE users DROP CONSTRAINT users_default_list_fkey;
ALTER TABLE users DROP COLUMN default_list_id;

DROP TABLE list_invitations;
DROP TABLE list_members;
DROP TABLE lists;
DROP FUNCTION list_members_check_owner();
