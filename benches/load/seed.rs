//! The seeded data: 100 users × 200 todos with deterministic ids (so the
//! pgbench scripts can pick rows at random), and an access token per user.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use uuid::Uuid;

use crate::{JWT_SECRET, PASSWORD, TODOS_PER_USER, USERS};

fn user_id(u: u32) -> Uuid {
    Uuid::parse_str(&format!("00000000-0000-4000-8000-{u:012}")).unwrap()
}

pub fn todo_id(u: u32, n: u32) -> Uuid {
    Uuid::parse_str(&format!("00000000-0000-4000-9000-{:012}", u * 1000 + n)).unwrap()
}

pub async fn pg(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| "connecting to PostgreSQL")?;
    tokio::spawn(connection);
    Ok(client)
}

pub async fn seed(database_url: &str) -> anyhow::Result<()> {
    let hash = todoql::auth::password::hash(PASSWORD.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let db = pg(database_url).await?;
    db.execute(
        "INSERT INTO users (id, email, password_hash, display_name)
         SELECT ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid,
                'user' || u || '@example.com', $1, 'User ' || u
         FROM generate_series(1, $2::int) u",
        &[&hash, &(USERS as i32)],
    )
    .await?;
    // Realistic rows: a third with notes, half with a due date (some past),
    // a quarter completed; created over the last days.
    db.execute(
        "INSERT INTO todos (id, owner_id, title, description, completed, completed_at, due_at, created_at, updated_at)
         SELECT ('00000000-0000-4000-9000-' || lpad((u * 1000 + n)::text, 12, '0'))::uuid,
                ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid,
                'Todo ' || n || ' of user ' || u,
                CASE WHEN n % 3 = 0 THEN 'Some notes about todo ' || n END,
                n % 4 = 0, CASE WHEN n % 4 = 0 THEN now() - n * interval '1 minute' END,
                CASE WHEN n % 2 = 0 THEN now() + (n - 50) * interval '1 hour' END,
                now() - n * interval '20 minutes', now() - n * interval '20 minutes'
         FROM generate_series(1, $1::int) u, generate_series(1, $2::int) n",
        &[&(USERS as i32), &(TODOS_PER_USER as i32)],
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
