//! Retention: once events past `EVENT_RETENTION_SECS` are pruned, a cursor
//! whose next change is gone is `CURSOR_EXPIRED`, one just recent enough
//! still pages, and a page without `after` starts at the oldest change kept.

use super::{page, pull, pull_all, seq, summary};
use crate::support::{TestApp, error_code};

#[tokio::test]
async fn cursors_older_than_the_retained_changes_expire() {
    let app = TestApp::spawn().await;
    let user = app.register("expiry").await;
    let (_, start) = pull_all(&app, &user, None).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_todo_titled(&user, &format!("todo {i}")).await);
    }
    let (changes, end) = pull_all(&app, &user, Some(&start)).await;
    assert_eq!(changes.len(), 5);

    // The first three changes (and whatever came before) are eight days
    // old: past the default retention of seven, so the pruner drops them.
    let third = seq(&changes[2]["cursor"]);
    app.sql(&format!(
        "UPDATE todo_events SET occurred_at = now() - interval '8 days'
         WHERE user_id = '{}' AND seq <= {third}",
        user.id
    ))
    .await;
    let pruned = app.state.events.prune().await.unwrap();
    assert!(pruned >= 3, "pruned {pruned}");

    // Changes 4 and 5 remain: after the 2nd, the 3rd is missing.
    for old in [
        &start,
        changes[0]["cursor"].as_str().unwrap(),
        changes[1]["cursor"].as_str().unwrap(),
    ] {
        let body = pull(&app, &user, Some(old), None).await;
        assert_eq!(error_code(&body), "CURSOR_EXPIRED", "{body}");
        assert!(body["data"].is_null(), "{body}");
    }
    // After the 3rd: nothing lost.
    let recent = page(&app, &user, changes[2]["cursor"].as_str(), None).await;
    assert_eq!(
        summary(recent["changes"].as_array().unwrap()),
        summary(&changes[3..])
    );
    // Without `after`: from the oldest kept.
    let oldest = page(&app, &user, None, None).await;
    assert_eq!(
        summary(oldest["changes"].as_array().unwrap()),
        summary(&changes[3..])
    );
    // The current cursor still works, and so does the subscription rule:
    // everything pruned, the current position is still a valid cursor.
    let current = page(&app, &user, Some(&end), None).await;
    assert_eq!(current["changes"], serde_json::json!([]));
    app.sql(&format!(
        "UPDATE todo_events SET occurred_at = now() - interval '8 days' WHERE user_id = '{}'",
        user.id
    ))
    .await;
    app.state.events.prune().await.unwrap();
    let empty = page(&app, &user, Some(&end), None).await;
    assert_eq!(empty["changes"], serde_json::json!([]), "{empty}");
    assert_eq!(empty["cursor"], end.as_str(), "{empty}");
    let fresh = page(&app, &user, None, None).await;
    assert_eq!(fresh["changes"], serde_json::json!([]), "{fresh}");
    assert_eq!(fresh["cursor"], end.as_str(), "{fresh}");
    let body = pull(&app, &user, changes[3]["cursor"].as_str(), None).await;
    assert_eq!(error_code(&body), "CURSOR_EXPIRED", "{body}");
}
