//! The seeded data: 100 users × 200 todos in their default lists, with
//! deterministic ids (so the pgbench scripts can pick rows at random), two
//! shared lists with their members, 5,000 events of one user for the pull
//! feed, and an access token per user.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use uuid::Uuid;

use crate::{
    BIG_LIST_FIRST, BIG_LIST_MEMBERS, FEED_EVENTS, FEED_USER, JWT_SECRET, PASSWORD,
    SMALL_LIST_FIRST, SMALL_LIST_MEMBERS, TODOS_PER_USER, USERS,
};

fn user_id(u: u32) -> Uuid {
    Uuid::parse_str(&format!("00000000-0000-4000-8000-{u:012}")).unwrap()
}

pub fn todo_id(u: u32, n: u32) -> Uuid {
    Uuid::parse_str(&format!("00000000-0000-4000-9000-{:012}", u * 1000 + n)).unwrap()
}

/// The shared list whose members are `members` users from `first`.
pub fn shared_list_id(first: u32, members: u32) -> Uuid {
    Uuid::parse_str(&format!(
        "00000000-0000-4000-a000-{:012}",
        first * 1000 + members
    ))
    .unwrap()
}

/// The shared list of [`SMALL_LIST_MEMBERS`] members (read by `list(id)`).
pub fn small_list() -> Uuid {
    shared_list_id(SMALL_LIST_FIRST, SMALL_LIST_MEMBERS)
}

/// The shared list of [`BIG_LIST_MEMBERS`] members (fan-out, 50 writers).
pub fn big_list() -> Uuid {
    shared_list_id(BIG_LIST_FIRST, BIG_LIST_MEMBERS)
}

pub async fn pg(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| "connecting to PostgreSQL")?;
    tokio::spawn(connection);
    Ok(client)
}

/// The `n`-th key (from 0) of `generateNKeysBetween(null, null, …)` of the
/// fractional-indexing algorithm: a0 … az, b00 … bzz, c000 … (the lists
/// migration numbers the todos it moves into default lists the same way).
const NTH_POSITION_KEY: &str = r#"
CREATE FUNCTION pg_temp.nth_position_key(n bigint) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    digits constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    width int := 1;
    span numeric := 62;
    rest numeric := n;
    key text := '';
BEGIN
    WHILE rest >= span LOOP
        rest := rest - span;
        width := width + 1;
        span := span * 62;
    END LOOP;
    FOR i IN 1..width LOOP
        key := substr(digits, (rest % 62)::int + 1, 1) || key;
        rest := floor(rest / 62);
    END LOOP;
    RETURN chr(ascii('a') + width - 1) || key;
END
$$;
"#;

pub async fn seed(database_url: &str) -> anyhow::Result<()> {
    let hash = todoql::auth::password::hash(PASSWORD.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = pg(database_url).await?;
    db.batch_execute(NTH_POSITION_KEY).await?;
    // Each user gets its default list from the database's own trigger.
    db.execute(
        "INSERT INTO users (id, email, password_hash, display_name)
         SELECT ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid,
                'user' || u || '@example.com', $1, 'User ' || u
         FROM generate_series(1, $2::int) u",
        &[&hash, &(USERS as i32)],
    )
    .await?;
    // Realistic rows: a third with notes, half with a due date (some past),
    // a quarter completed; created over the last days; in the owner's
    // default list, newest first in the manual order too.
    db.execute(
        "INSERT INTO todos (id, owner_id, list_id, position, title, description, completed, completed_at, due_at, created_at, updated_at)
         SELECT ('00000000-0000-4000-9000-' || lpad((u * 1000 + n)::text, 12, '0'))::uuid,
                usr.id, usr.default_list_id, pg_temp.nth_position_key(n - 1),
                'Todo ' || n || ' of user ' || u,
                CASE WHEN n % 3 = 0 THEN 'Some notes about todo ' || n END,
                n % 4 = 0, CASE WHEN n % 4 = 0 THEN now() - n * interval '1 minute' END,
                CASE WHEN n % 2 = 0 THEN now() + (n - 50) * interval '1 hour' END,
                now() - n * interval '20 minutes', now() - n * interval '20 minutes'
         FROM generate_series(1, $1::int) u
         JOIN users usr ON usr.id = ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid,
              generate_series(1, $2::int) n",
        &[&(USERS as i32), &(TODOS_PER_USER as i32)],
    )
    .await?;
    // The shared lists: owned by their first member, every other member an
    // EDITOR (set up directly: invitations are not what is measured), each
    // with 200 todos created by its members in turn.
    for (first, members) in [
        (SMALL_LIST_FIRST, SMALL_LIST_MEMBERS),
        (BIG_LIST_FIRST, BIG_LIST_MEMBERS),
    ] {
        // As text: this client has no uuid support.
        let list = shared_list_id(first, members).to_string();
        let (first, members) = (first as i32, members as i32);
        db.batch_execute("BEGIN").await?;
        db.execute(
            "INSERT INTO lists (id, name, owner_id)
             VALUES ($1::text::uuid, 'Shared by ' || $3::int || ' members',
                     ('00000000-0000-4000-8000-' || lpad($2::int::text, 12, '0'))::uuid)",
            &[&list, &first, &members],
        )
        .await?;
        db.execute(
            "INSERT INTO list_members (list_id, user_id, role, position)
             SELECT $1::text::uuid, ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid,
                    CASE WHEN u = $2::int THEN 'OWNER' ELSE 'EDITOR' END, 'a1'
             FROM generate_series($2::int, $2::int + $3::int - 1) u",
            &[&list, &first, &members],
        )
        .await?;
        db.execute(
            "INSERT INTO todos (id, owner_id, list_id, position, title, description, completed, completed_at, due_at, created_at, updated_at)
             SELECT ('00000000-0000-4000-b000-' || lpad(($2::int * 100000 + n)::text, 12, '0'))::uuid,
                    ('00000000-0000-4000-8000-' || lpad(($2::int + n % $3::int)::text, 12, '0'))::uuid,
                    $1::text::uuid, pg_temp.nth_position_key(n - 1),
                    'Shared todo ' || n,
                    CASE WHEN n % 3 = 0 THEN 'Some notes about todo ' || n END,
                    n % 4 = 0, CASE WHEN n % 4 = 0 THEN now() - n * interval '1 minute' END,
                    CASE WHEN n % 2 = 0 THEN now() + (n - 50) * interval '1 hour' END,
                    now() - n * interval '20 minutes', now() - n * interval '20 minutes'
             FROM generate_series(1, $4::int) n",
            &[&list, &first, &members, &(TODOS_PER_USER as i32)],
        )
        .await?;
        db.batch_execute("COMMIT").await?;
    }
    // The pull feed's reader: FEED_EVENTS updates of its own todos, in one
    // transaction numbered at commit like the app's (sequence 1..=5000),
    // each with the todo's snapshot as the app stores it.
    db.execute(
        "INSERT INTO todo_events (user_id, kind, todo_id, snapshot, occurred_at, list_id)
         SELECT t.owner_id, 'UPDATED', t.id,
                to_jsonb(t) || jsonb_build_object('version', t.version + r),
                now() - ($2::int - r) * interval '1 second', t.list_id
         FROM generate_series(1, $2::int / $3::int) r,
              todos t
         WHERE t.owner_id = ('00000000-0000-4000-8000-' || lpad($1::int::text, 12, '0'))::uuid
         ORDER BY r, t.id",
        &[
            &(FEED_USER as i32),
            &(FEED_EVENTS as i32),
            &(TODOS_PER_USER as i32),
        ],
    )
    .await?;
    db.batch_execute("ANALYZE").await?;
    Ok(())
}

pub fn tokens() -> anyhow::Result<Arc<Vec<String>>> {
    let issuer =
        todoql::auth::token::AccessTokens::new(JWT_SECRET.as_bytes(), Duration::from_secs(7200));
    let mut out = Vec::new();
    for u in 1..=USERS {
        out.push(
            issuer
                .issue(user_id(u))
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    Ok(Arc::new(out))
}
