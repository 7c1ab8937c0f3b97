-- Idempotency keys (issue 16): a write retried with the same
-- `Idempotency-Key` runs once; repeats get the stored response.
-- The primary key (scope, key) is the arbiter between concurrent requests
-- and instances: the first INSERT wins the claim.
CREATE TABLE idempotency_keys (
    -- `user:<uuid>` when signed in, `addr:<client address>` when not.
    scope text NOT NULL,
    -- The client's key: 1-255 printable ASCII characters.
    key text NOT NULL,
    -- SHA-256 of the canonical operation (query, operationName, variables;
    -- REST: method, path, body).
    fingerprint bytea NOT NULL,
    -- The current run's claim; a takeover after an expired lease replaces
    -- it, so the run it replaced can neither apply its write nor store.
    token uuid NOT NULL,
    state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
    -- Where the key was first used: `http`, `ws` or `rest`.
    transport text NOT NULL CHECK (transport IN ('http', 'ws', 'rest')),
    -- The stored response, once done.
    status smallint,
    media_type text,
    body bytea,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    -- A running claim past this time may be taken over, unless applied.
    lease_until timestamptz NOT NULL,
    -- Set inside the write's own transaction: the write committed.
    applied_at timestamptz,
    completed_at timestamptz,
    PRIMARY KEY (scope, key),
    CHECK (state = 'running' OR (status IS NOT NULL AND body IS NOT NULL))
);

-- Pruning (keys are kept 24 hours) walks this index.
CREATE INDEX idempotency_keys_claimed_at ON idempotency_keys (claimed_at);
