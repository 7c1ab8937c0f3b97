DROP TABLE todo_events;
ALTER TABLE users DROP COLUMN event_seq;
