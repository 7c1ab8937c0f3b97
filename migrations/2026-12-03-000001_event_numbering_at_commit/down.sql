DROP TRIGGER todo_events_number_at_commit ON todo_events;
DROP FUNCTION todo_events_number();
DROP INDEX todo_events_unnumbered_idx;
DROP INDEX todo_events_user_seq_idx;
-- Unnumbered rows only exist inside committing transactions.
DELETE FROM todo_events WHERE seq IS NULL;
ALTER TABLE todo_events ALTER COLUMN seq SET NOT NULL;
ALTER TABLE todo_events DROP COLUMN id;
ALTER TABLE todo_events ADD PRIMARY KEY (user_id, seq);
