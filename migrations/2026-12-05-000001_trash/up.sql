-- The trash: deleting a todo sets deleted_at instead of removing the row.
-- A trashed todo leaves every live read (lists, counts, filters, moves);
-- Query.trash lists it, restoreTodo brings it back, and emptyTrash or the
-- purge after TRASH_RETENTION_DAYS removes it for good.
ALTER TABLE todos ADD COLUMN deleted_at timestamptz;

-- Live reads name `deleted_at IS NULL`, so the per-list keyset indexes hold
-- live todos only: they stay as small (and index-only scans as fast) as
-- before, and the trash costs them nothing. Position keys are not unique
-- (ties are broken by id), so no uniqueness constraint involves the trash.
DROP INDEX todos_list_position_idx;
DROP INDEX todos_list_created_idx;
DROP INDEX todos_list_updated_idx;
DROP INDEX todos_list_due_idx;
DROP INDEX todos_list_completed_idx;
CREATE INDEX todos_list_position_idx  ON todos (list_id, position, id)   WHERE deleted_at IS NULL;
CREATE INDEX todos_list_created_idx   ON todos (list_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX todos_list_updated_idx   ON todos (list_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX todos_list_due_idx       ON todos (list_id, due_at, id)     WHERE deleted_at IS NULL;
CREATE INDEX todos_list_completed_idx ON todos (list_id, completed)      WHERE deleted_at IS NULL;
-- Deleting a list cascades to all of its todos, live and trashed: a query
-- with no deleted_at condition, which no partial index serves.
CREATE INDEX todos_list_idx ON todos (list_id);

-- Query.trash: a list's trash, most recently deleted first (keyset).
CREATE INDEX todos_trash_idx ON todos (list_id, deleted_at DESC, id) WHERE deleted_at IS NOT NULL;
-- The purge: trashed todos older than the retention, oldest first.
CREATE INDEX todos_trash_purge_idx ON todos (deleted_at) WHERE deleted_at IS NOT NULL;
