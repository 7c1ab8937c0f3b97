//! The `field_versions` migration on existing todos: down removes the
//! per-field versions, up again backfills them from each todo's version
//! (the safe side: a merge based on an older version conflicts, one based
//! on the current version applies), and a todo never changed keeps 1.

use serde_json::json;

use crate::support::{TestApp, error_code, lists::Pg};

/// The migration under test.
const MIGRATION: &str = "2026-12-05-000002_field_versions";

const COLUMNS: [&str; 4] = [
    "title_version",
    "description_version",
    "completed_version",
    "due_at_version",
];

#[tokio::test]
async fn the_migration_goes_down_and_up_and_backfills_from_the_version() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let changed = app.create_todo_titled(&alice, "Changed").await;
    let untouched = app.create_todo_titled(&alice, "Untouched").await;
    app.update_todo_ok(&alice, &changed, json!({ "title": "Changed once" }))
        .await;
    app.update_todo_ok(&alice, &changed, json!({ "completed": true }))
        .await;
    let url = app.database_url.clone();
    app.stop().await.unwrap();

    // Down: every migration after this one, then this one.
    crate::support::db::revert_through(&url, MIGRATION).await;
    let pg = Pg::connect(&url).await;
    for column in COLUMNS {
        let n = pg
            .count(&format!(
                "SELECT count(*) FROM information_schema.columns
                 WHERE table_name = 'todos' AND column_name = '{column}'"
            ))
            .await;
        assert_eq!(n, 0, "todos.{column} after down");
    }
    assert_eq!(pg.count("SELECT count(*) FROM todos").await, 2);

    // Up again: the versions are backfilled.
    crate::support::db::migrate_up(&url).await;
    let versions = |id: &str| {
        format!(
            "SELECT concat_ws(',', version, {}) FROM todos WHERE id = '{id}'",
            COLUMNS.join(", ")
        )
    };
    assert_eq!(
        pg.value(&versions(&changed)).await.as_deref(),
        Some("3,3,3,3,3")
    );
    assert_eq!(
        pg.value(&versions(&untouched)).await.as_deref(),
        Some("1,1,1,1,1")
    );

    // The app on the migrated database: which field changed when is not
    // known for the old changes, so a merge from before them conflicts,
    // and one from the current version applies.
    let app = TestApp::spawn_on(url, &[]).await;
    let body = app
        .update_todo(
            &alice,
            &changed,
            json!({ "description": "x", "baseVersion": 2 }),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    let merged = app
        .update_todo_ok(
            &alice,
            &changed,
            json!({ "description": "x", "baseVersion": 3 }),
        )
        .await;
    assert_eq!(merged["version"], 4);
    assert_eq!(
        pg.value(&versions(&changed)).await.as_deref(),
        Some("4,3,4,3,3"),
        "only the description moved to the new version"
    );
    app.stop().await.unwrap();
}
