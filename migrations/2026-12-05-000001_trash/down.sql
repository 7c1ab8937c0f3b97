-- Trashed todos were deleted by their users: without the column they would
-- come back to life, so they go for good.
DELETE FROM todos WHERE deleted_at IS NOT NULL;
DROP INDEX todos_trash_purge_idx;
DROP INDEX todos_trash_idx;
DROP INDEX todos_list_idx;
DROP INDEX todos_list_position_idx;
DROP INDEX todos_list_created_idx;
DROP INDEX todos_list_updated_idx;
DROP INDEX todos_list_due_idx;
DROP INDEX todos_list_completed_idx;
CREATE INDEX todos_list_position_idx  ON todos (list_id, position, id);
CREATE INDEX todos_list_created_idx   ON todos (list_id, created_at, id);
CREATE INDEX todos_list_updated_idx   ON todos (list_id, updated_at, id);
CREATE INDEX todos_list_due_idx       ON todos (list_id, due_at, id);
CREATE INDEX todos_list_completed_idx ON todos (list_id, completed);
ALTER TABLE todos DROP COLUMN deleted_at;
