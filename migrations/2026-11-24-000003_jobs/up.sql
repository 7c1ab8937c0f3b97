-- A durable job queue: jobs are enqueued in the transaction of the change
-- that causes them, claimed with FOR UPDATE SKIP LOCKED under a lease, and
-- retried with backoff until they succeed or are dead (JOB_MAX_ATTEMPTS).
CREATE TABLE jobs (
    id              uuid        PRIMARY KEY,
    kind            text        NOT NULL,
    payload         jsonb       NOT NULL,
    -- queued: waiting for run_at; running: leased to a worker until
    -- locked_until; failed: an attempt failed, retried at run_at;
    -- succeeded and dead are final (dead after max_attempts).
    state           text        NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'failed', 'succeeded', 'dead')),
    -- Attempts started (a claim counts, so does one whose lease expired).
    attempts        integer     NOT NULL DEFAULT 0,
    run_at          timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    locked_by       text,
    last_error      text,
    -- At most one job per key: a second enqueue with the same key is a no-op.
    idempotency_key text        UNIQUE,
    -- W3C traceparent of the request that enqueued the job.
    trace_context   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
-- Claiming: due jobs in run_at order, and expired leases.
CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE state IN ('queued', 'failed');
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE state = 'running';
-- Pruning finished jobs, and operator listings by state.
CREATE INDEX jobs_state_idx ON jobs (state, finished_at);

-- Password-reset tokens: stored hashed, single use, short-lived.
CREATE TABLE password_resets (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
