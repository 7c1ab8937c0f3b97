-- Back to the numbering of migration event_numbering_per_transaction.
CREATE OR REPLACE FUNCTION todo_events_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM todo_events WHERE id = NEW.id AND seq IS NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM users
        WHERE id IN (SELECT user_id FROM todo_events WHERE seq IS NULL AND id >= NEW.id)
        ORDER BY id
        FOR NO KEY UPDATE;
    WITH pending AS (
        SELECT user_id, count(*) AS n FROM todo_events WHERE seq IS NULL AND id >= NEW.id GROUP BY user_id
    ), bumped AS (
        UPDATE users u SET event_seq = u.event_seq + p.n
        FROM pending p
        WHERE u.id = p.user_id
        RETURNING u.id, u.event_seq AS last, p.n
    )
    UPDATE todo_events e SET seq = b.last - b.n + r.k
    FROM (SELECT id, user_id, row_number() OVER (PARTITION BY user_id ORDER BY id) AS k
          FROM todo_events WHERE seq IS NULL AND id >= NEW.id) r
    JOIN bumped b ON b.id = r.user_id
    WHERE e.id = r.id;
    RETURN NULL;
END
$$;
