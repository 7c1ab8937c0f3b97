-- Numbering at commit without the quadratic join.
--
-- The numbering (migration event_numbering_per_transaction) joined the
-- transaction's events to the `bumped` CTE of users it had just counted
-- up. PostgreSQL estimates the partial index of unnumbered rows at one
-- row (it is empty between commits), so it planned a nested loop that
-- rescans the CTE for every event: 50 × 50 rows for a change to a
-- 50-member list, about half a millisecond of a 2.4 ms COMMIT (EXPLAIN
-- ANALYZE and pgbench with one client, docs/benchmarks.md). The users'
-- counters are now bumped by their own statement, and the events read
-- their user's new counter through the primary key (one index probe per
-- event): an event's number is the counter minus how many of this
-- transaction's events of that user come after it. Same locks, in the same
-- order, so the same guarantees: numbers follow commit order per user, and
-- two commits that number the same users cannot deadlock.
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
    UPDATE users u SET event_seq = u.event_seq + p.n
    FROM (SELECT user_id, count(*) AS n FROM todo_events
          WHERE seq IS NULL AND id >= NEW.id GROUP BY user_id) p
    WHERE u.id = p.user_id;
    -- j = 1 for a user's last event of this transaction, which takes the
    -- counter's new value; the earlier ones the numbers just below it.
    UPDATE todo_events e SET seq = u.event_seq + 1 - r.j
    FROM (SELECT id, user_id, row_number() OVER (PARTITION BY user_id ORDER BY id DESC) AS j
          FROM todo_events WHERE seq IS NULL AND id >= NEW.id) r
    JOIN users u ON u.id = r.user_id
    WHERE e.id = r.id;
    RETURN NULL;
END
$$;
