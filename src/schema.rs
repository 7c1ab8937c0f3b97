//! Diesel table definitions, kept in step with `migrations/` by hand
//! (the same output `diesel print-schema` gives).

diesel::table! {
    /// Accounts.
    users (id) {
        /// Primary key (UUIDv7).
        id -> Uuid,
        /// As entered (trimmed); unique case-insensitively.
        email -> Text,
        /// Argon2id PHC string.
        password_hash -> Text,
        /// Optional name shown in clients.
        display_name -> Nullable<Text>,
        /// Creation time.
        created_at -> Timestamptz,
        /// Last change.
        updated_at -> Timestamptz,
        /// Last event sequence number handed out for this user.
        event_seq -> Int8,
        /// When the owner proved the address is theirs; null: unverified.
        email_verified_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Todos, each owned by one user.
    todos (id) {
        /// Primary key (UUIDv7).
        id -> Uuid,
        /// The owning user.
        owner_id -> Uuid,
        /// 1 to 500 characters, trimmed.
        title -> Text,
        /// At most 10,000 characters.
        description -> Nullable<Text>,
        /// Done or not.
        completed -> Bool,
        /// Optional due time.
        due_at -> Nullable<Timestamptz>,
        /// Set while completed.
        completed_at -> Nullable<Timestamptz>,
        /// Creation time.
        created_at -> Timestamptz,
        /// Last change.
        updated_at -> Timestamptz,
        /// Bumped on every change (optimistic concurrency).
        version -> Int4,
    }
}

diesel::table! {
    /// Refresh tokens, stored hashed, rotated on use.
    refresh_tokens (id) {
        /// Primary key.
        id -> Uuid,
        /// The user the token signs in.
        user_id -> Uuid,
        /// Rotation chain shared by all tokens descending from one login.
        family_id -> Uuid,
        /// SHA-256 of the token.
        token_hash -> Bytea,
        /// Issue time.
        created_at -> Timestamptz,
        /// Expiry.
        expires_at -> Timestamptz,
        /// When it was exchanged for a successor.
        rotated_at -> Nullable<Timestamptz>,
        /// When it was revoked.
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Committed todo changes per user, in commit order.
    todo_events (id) {
        /// Insertion order (numbering order within one transaction).
        id -> Int8,
        /// The owner of the todo.
        user_id -> Uuid,
        /// Per-user sequence number, strictly increasing in commit order;
        /// null only inside the transaction that wrote the row, until the
        /// commit-time trigger numbers it.
        seq -> Nullable<Int8>,
        /// `CREATED`, `UPDATED` or `DELETED`.
        kind -> Text,
        /// The todo.
        todo_id -> Uuid,
        /// The todo right after the change; null for deletions.
        snapshot -> Nullable<Jsonb>,
        /// Commit time.
        occurred_at -> Timestamptz,
    }
}

diesel::table! {
    /// The durable job queue.
    jobs (id) {
        /// Id.
        id -> Uuid,
        /// What to run.
        kind -> Text,
        /// Its input.
        payload -> Jsonb,
        /// `queued`, `running`, `failed`, `succeeded` or `dead`.
        state -> Text,
        /// Attempts started.
        attempts -> Int4,
        /// Not before.
        run_at -> Timestamptz,
        /// Lease expiry while running.
        locked_until -> Nullable<Timestamptz>,
        /// The worker holding the lease.
        locked_by -> Nullable<Text>,
        /// The last failure.
        last_error -> Nullable<Text>,
        /// Deduplication key.
        idempotency_key -> Nullable<Text>,
        /// Trace context of the enqueuing request.
        trace_context -> Nullable<Text>,
        /// Enqueued.
        created_at -> Timestamptz,
        /// Last state change.
        updated_at -> Timestamptz,
        /// Succeeded or died.
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Password-reset tokens, stored hashed.
    password_resets (id) {
        /// Id.
        id -> Uuid,
        /// The account.
        user_id -> Uuid,
        /// SHA-256 of the token.
        token_hash -> Bytea,
        /// Issued.
        created_at -> Timestamptz,
        /// Expiry.
        expires_at -> Timestamptz,
        /// Set once used.
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// Email verification codes, stored hashed: one row per email asked for.
    email_verification_codes (id) {
        /// Id.
        id -> Uuid,
        /// The account.
        user_id -> Uuid,
        /// SHA-256 of the code; null until the email job mints it.
        code_hash -> Nullable<Bytea>,
        /// Asked for (the hourly limit counts these).
        created_at -> Timestamptz,
        /// Expiry.
        expires_at -> Timestamptz,
        /// Set once used.
        used_at -> Nullable<Timestamptz>,
        /// Set once replaced by a newer code, or another code was used.
        cancelled_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(todos -> users (owner_id));
diesel::joinable!(email_verification_codes -> users (user_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::joinable!(todo_events -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    todos,
    refresh_tokens,
    todo_events,
    jobs,
    password_resets,
    email_verification_codes
);
