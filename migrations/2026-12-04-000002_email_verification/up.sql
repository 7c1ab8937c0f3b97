-- Email verification: when an account's owner proved the address is theirs,
-- and the codes emailed to prove it.

-- NULL: not verified. Accounts created before this migration stay NULL, so
-- they count as unverified until their owner verifies.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- One row per verification email asked for (registration, resendVerification):
-- the hourly limit counts these rows, so it holds across instances.
CREATE TABLE email_verification_codes (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the code. NULL until the email job mints the code: the code
    -- itself is only ever in the email, never in the job queue.
    code_hash    bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    -- Set by the verifyEmail that used it.
    used_at      timestamptz,
    -- Set when a newer code replaced it (resend) or another code was used.
    cancelled_at timestamptz,
    CHECK (used_at IS NULL OR cancelled_at IS NULL)
);
-- The hourly count, newest code first.
CREATE INDEX email_verification_codes_user_created_idx
    ON email_verification_codes (user_id, created_at);
-- verifyEmail looks a code up by its owner and hash.
CREATE UNIQUE INDEX email_verification_codes_user_hash_key
    ON email_verification_codes (user_id, code_hash);
