-- Per-user event numbers are handed out at COMMIT, not during the
-- transaction. Before, a write took the user row's lock with
-- `UPDATE users SET event_seq = event_seq + n` in the middle of its
-- transaction and held it across every later round trip to the server, so
-- one user's writes ran one at a time at the speed of the client's
-- scheduler. Now a write inserts its events unnumbered (seq NULL), and a
-- deferred constraint trigger numbers them while the transaction commits:
-- the user row is locked only inside COMMIT, on the server, for the few
-- microseconds the numbering takes. Numbers still follow commit order (the
-- lock serialises the numbering of one user's commits and is released only
-- once the commit is visible), so readers that only ever read numbered
-- rows see a gap-free sequence.
ALTER TABLE todo_events DROP CONSTRAINT todo_events_pkey;
-- Insertion order: the order in which one transaction's events are numbered.
ALTER TABLE todo_events ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
ALTER TABLE todo_events ALTER COLUMN seq DROP NOT NULL;
CREATE UNIQUE INDEX todo_events_user_seq_idx ON todo_events (user_id, seq);
-- Only rows of transactions that are committing right now match it.
CREATE INDEX todo_events_unnumbered_idx ON todo_events (user_id) WHERE seq IS NULL;

-- Numbers the committing transaction's unnumbered events of NEW.user_id.
-- The first firing for a user numbers all of them (other transactions'
-- unnumbered rows are uncommitted, hence invisible here); later firings for
-- the same user find their row numbered and return. A transaction that
-- writes events of several users must insert them in user id order, so
-- that two such commits lock the user rows in the same order.
CREATE FUNCTION todo_events_number() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE CONSTRAINT TRIGGER todo_events_number_at_commit
    AFTER INSERT ON todo_events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION todo_events_number();
