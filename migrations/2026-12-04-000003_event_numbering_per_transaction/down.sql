DROP INDEX todo_events_unnumbered_idx;
CREATE INDEX todo_events_unnumbered_idx ON todo_events (user_id) WHERE seq IS NULL;

CREATE OR REPLACE FUNCTION todo_events_number() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pending bigint;
    last bigint;
BEGIN
    PERFORM 1 FROM todo_events WHERE id = NEW.id AND seq IS NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO pending FROM todo_events WHERE user_id = NEW.user_id AND seq IS NULL;
    UPDATE users SET event_seq = event_seq + pending WHERE id = NEW.user_id
        RETURNING event_seq INTO last;
    UPDATE todo_events e SET seq = last - pending + r.n
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS n
          FROM todo_events WHERE user_id = NEW.user_id AND seq IS NULL) r
    WHERE e.id = r.id;
    RETURN NULL;
END
$$;
