-- Accounts, todos and refresh tokens: the core of todoql.

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    password_hash text        NOT NULL,
    display_name  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique case-insensitively; lookups go through lower(email).
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE todos (
    id           uuid        PRIMARY KEY,
    owner_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 500),
    description  text        CHECK (char_length(description) <= 10000),
    completed    boolean     NOT NULL DEFAULT false,
    due_at       timestamptz,
    completed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    version      integer     NOT NULL DEFAULT 1 CHECK (version >= 1),
    CHECK ((completed AND completed_at IS NOT NULL) OR (NOT completed AND completed_at IS NULL))
);
-- One index per keyset order (B-trees scan both ways); `id` breaks ties so
-- every order is total and cursors are stable.
CREATE INDEX todos_owner_created_idx ON todos (owner_id, created_at, id);
CREATE INDEX todos_owner_updated_idx ON todos (owner_id, updated_at, id);
CREATE INDEX todos_owner_due_idx     ON todos (owner_id, due_at, id);
-- Counts by state and the completed filter.
CREATE INDEX todos_owner_completed_idx ON todos (owner_id, completed);

CREATE TABLE refresh_tokens (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Every token issued by rotation shares the family of the login that began it,
    -- so a replayed (already rotated) token can revoke the whole chain.
    family_id   uuid        NOT NULL,
    -- SHA-256 of the opaque token; the token itself is never stored.
    token_hash  bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx   ON refresh_tokens (user_id);
