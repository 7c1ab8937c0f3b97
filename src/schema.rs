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
        /// The user's default list (made with the account).
        default_list_id -> Uuid,
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
        /// The list it belongs to.
        list_id -> Uuid,
        /// Its fractional-index key in the list's manual order.
        position -> Text,
        /// When it went to the trash; null while live.
        deleted_at -> Nullable<Timestamptz>,
        /// The version at which `title` last changed (field-level merge).
        title_version -> Int4,
        /// The version at which `description` last changed.
        description_version -> Int4,
        /// The version at which `completed` last changed.
        completed_version -> Int4,
        /// The version at which `due_at` last changed.
        due_at_version -> Int4,
    }
}

diesel::table! {
    /// Todo lists.
    lists (id) {
        /// Primary key.
        id -> Uuid,
        /// 1 to 100 characters, trimmed.
        name -> Text,
        /// The OWNER member.
        owner_id -> Uuid,
        /// Bumped on every change of the list itself.
        version -> Int4,
        /// Creation time.
        created_at -> Timestamptz,
        /// Last change.
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Who may see a list, with which role.
    list_members (list_id, user_id) {
        /// The list.
        list_id -> Uuid,
        /// The member.
        user_id -> Uuid,
        /// `OWNER`, `EDITOR` or `VIEWER`.
        role -> Text,
        /// The list's place in this member's sidebar.
        position -> Text,
        /// When the member joined.
        joined_at -> Timestamptz,
    }
}

diesel::table! {
    /// Invitations to lists, by email.
    list_invitations (id) {
        /// Primary key.
        id -> Uuid,
        /// The list.
        list_id -> Uuid,
        /// The invited address.
        email -> Text,
        /// `EDITOR` or `VIEWER`.
        role -> Text,
        /// The OWNER who invited.
        invited_by -> Uuid,
        /// Sent.
        created_at -> Timestamptz,
        /// Lapses.
        expires_at -> Timestamptz,
        /// Accepted.
        accepted_at -> Nullable<Timestamptz>,
        /// Declined or withdrawn.
        cancelled_at -> Nullable<Timestamptz>,
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
        /// `CREATED`, `UPDATED`, `DELETED` (todo events) or
        /// `LIST_GRANTED`, `LIST_UPDATED`, `LIST_REVOKED` (list events).
        kind -> Text,
        /// The todo; null for list events.
        todo_id -> Nullable<Uuid>,
        /// The todo (or list) right after the change; null for deletions
        /// and revocations.
        snapshot -> Nullable<Jsonb>,
        /// Commit time.
        occurred_at -> Timestamptz,
        /// The list the event concerns.
        list_id -> Uuid,
        /// For a todo moved between lists: the list it left.
        from_list_id -> Nullable<Uuid>,
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

diesel::table! {
    /// Idempotency keys: one claim per (scope, key), its stored response.
    idempotency_keys (scope, key) {
        /// `user:<uuid>` or `addr:<client address>`.
        scope -> Text,
        /// The client's key.
        key -> Text,
        /// SHA-256 of the canonical operation.
        fingerprint -> Bytea,
        /// The current run's claim.
        token -> Uuid,
        /// `running` or `done`.
        state -> Text,
        /// `http`, `ws` or `rest`: where the key was first used.
        transport -> Text,
        /// The stored HTTP status.
        status -> Nullable<Int2>,
        /// The stored media type.
        media_type -> Nullable<Text>,
        /// The stored body, byte for byte.
        body -> Nullable<Bytea>,
        /// When the current run claimed the key.
        claimed_at -> Timestamptz,
        /// When a running claim may be taken over (unless applied).
        lease_until -> Timestamptz,
        /// When the write committed (set inside its transaction).
        applied_at -> Nullable<Timestamptz>,
        /// When the response was stored.
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(todos -> users (owner_id));
diesel::joinable!(todos -> lists (list_id));
diesel::joinable!(list_members -> lists (list_id));
diesel::joinable!(list_members -> users (user_id));
diesel::joinable!(list_invitations -> lists (list_id));
diesel::joinable!(list_invitations -> users (invited_by));
diesel::joinable!(email_verification_codes -> users (user_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::joinable!(todo_events -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    todos,
    lists,
    list_members,
    list_invitations,
    refresh_tokens,
    todo_events,
    jobs,
    password_resets,
    email_verification_codes,
    idempotency_keys
);
