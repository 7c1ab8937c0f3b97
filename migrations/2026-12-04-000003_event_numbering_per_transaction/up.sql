-- Numbering at commit, once per transaction instead of once per user.
--
-- With shared lists, one change writes an event for every member of the
-- list. The trigger used to fire per user: a count, an UPDATE of the
-- user's row and a row_number() UPDATE for each of 50 members, all inside
-- COMMIT while holding the first members' rows, so writes to one list ran
-- at a dozen a second (the bench's "50 members of one list" scenario).
-- Now the first firing of a transaction numbers every unnumbered event it
-- can see (only the committing transaction's own: other transactions'
-- unnumbered rows are uncommitted, hence invisible) in three statements:
-- lock the users concerned in id order (so two commits can never
-- deadlock, whatever order their events were inserted in), bump their
-- counters, number the events. Later firings find their row numbered and
-- return at once. Numbers still follow commit order for each user, for the
-- same reason as before: the user row stays locked until the commit is
-- visible.
--
-- The unnumbered rows are found by id: the first firing is for the
-- transaction's first event (deferred triggers fire in insertion order) and
-- identity values only grow, so its events are the unnumbered rows with
-- id >= NEW.id. The partial index is on id for that range scan: its entries
-- for rows numbered long ago (dead until vacuum) lie below the range and
-- are never visited, where a scan of all unnumbered entries would walk
-- every one of them on every commit.
DROP INDEX todo_events_unnumbered_idx;
CREATE INDEX todo_events_unnumbered_idx ON todo_events (id) WHERE seq IS NULL;

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
