//! The purge: todos trashed longer ago than the retention go for good, in
//! batches, younger ones stay; and the job workers run it with
//! `TRASH_RETENTION_DAYS`.

use std::time::Duration;

use todoql::todos::service::TRASH_PURGE_BATCH;

use super::trashed_ids;
use crate::support::{TestApp, fresh_database, lists::Pg, ws_client::WAIT};

const THIRTY_DAYS: Duration = Duration::from_secs(30 * 86_400);

#[tokio::test]
async fn todos_trashed_longer_than_the_retention_are_purged_in_batches() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let live = app.create_todo_titled(&alice, "live").await;
    let old = app.create_todo_titled(&alice, "old").await;
    let young = app.create_todo_titled(&alice, "young").await;
    app.delete_todo_ok(&alice, &old).await;
    app.delete_todo_ok(&alice, &young).await;
    app.sql(&format!(
        "UPDATE todos SET deleted_at = now() - interval '31 days' WHERE id = '{old}'"
    ))
    .await;
    // More old trash than one batch holds, in the same list.
    let extra = TRASH_PURGE_BATCH * 2 + 7;
    app.sql(&format!(
        "INSERT INTO todos (id, owner_id, title, list_id, position, deleted_at)
         SELECT gen_random_uuid(), t.owner_id, 'bulk ' || n, t.list_id, 'a0',
                now() - interval '40 days'
         FROM todos t, generate_series(1, {extra}) n WHERE t.id = '{old}'"
    ))
    .await;

    let purged = app.state.todos.purge_trash(THIRTY_DAYS).await.unwrap();
    assert_eq!(purged, usize::try_from(extra + 1).unwrap());
    assert_eq!(trashed_ids(&app, &alice, None).await, vec![young.clone()]);
    assert_eq!(app.todo_counts(&alice).await, (1, 1, 0));
    let pg = Pg::connect(&app.database_url).await;
    assert_eq!(
        pg.count(&format!("SELECT count(*) FROM todos WHERE id = '{live}'"))
            .await,
        1
    );
    // Nothing left to purge.
    assert_eq!(app.state.todos.purge_trash(THIRTY_DAYS).await.unwrap(), 0);
}

#[tokio::test]
async fn the_job_workers_purge_with_the_configured_retention() {
    let database_url = fresh_database().await;
    let app = TestApp::spawn_on(database_url.clone(), &[]).await;
    let alice = app.register("alice").await;
    let old = app.create_todo_titled(&alice, "old").await;
    let young = app.create_todo_titled(&alice, "young").await;
    app.delete_todo_ok(&alice, &old).await;
    app.delete_todo_ok(&alice, &young).await;
    app.sql(&format!(
        "UPDATE todos SET deleted_at = now() - interval '3 days' WHERE id = '{old}'"
    ))
    .await;
    app.sql(&format!(
        "UPDATE todos SET deleted_at = now() - interval '1 day' + interval '1 hour' WHERE id = '{young}'"
    ))
    .await;

    // Workers purge as they start (then hourly), here with a 2-day retention.
    let workers = TestApp::spawn_on(
        database_url.clone(),
        &[("JOBS_IN_PROCESS", "true"), ("TRASH_RETENTION_DAYS", "2")],
    )
    .await;
    let pg = Pg::connect(&database_url).await;
    let gone = format!("SELECT count(*) FROM todos WHERE id = '{old}'");
    let deadline = tokio::time::Instant::now() + WAIT;
    while pg.count(&gone).await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the workers never purged the old trash"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(trashed_ids(&app, &alice, None).await, vec![young]);
    workers.stop().await.unwrap();
}
