-- Every committed change to a todo, per user, in commit order: the source of
-- truth for subscriptions (replay after a cursor, gap filling, catch-up
-- after a Redis outage).

-- The last sequence number handed out per user. Taking the next one locks
-- the user's row until commit, so a user's sequence order is commit order.
ALTER TABLE users ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE todo_events (
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq         bigint      NOT NULL CHECK (seq > 0),
    kind        text        NOT NULL CHECK (kind IN ('CREATED', 'UPDATED', 'DELETED')),
    todo_id     uuid        NOT NULL,
    -- The todo as it stood right after the change; NULL for DELETED.
    snapshot    jsonb,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, seq)
);
-- Retention pruning.
CREATE INDEX todo_events_occurred_idx ON todo_events (occurred_at);
