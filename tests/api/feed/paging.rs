//! Paging: order, no gap and no duplicate across pages, `hasMore`, the
//! cursor of each page, `first` (default and bounds), bad cursors, and the
//! start without `after`.

use serde_json::json;

use super::{ROOMY, assert_consecutive, cursor_of, page, pull, seq, summary};
use crate::support::{TestApp, error_code};

#[tokio::test]
async fn pages_of_100_walk_250_changes_in_order_without_gap_or_duplicate() {
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let user = app.register("pager").await;
    let start = page(&app, &user, None, None).await;
    let origin = seq(&start["cursor"]);
    let mut created = Vec::new();
    for i in 0..250 {
        created.push(app.create_todo_titled(&user, &format!("todo {i}")).await);
    }

    let mut after = start["cursor"].as_str().unwrap().to_owned();
    let mut all = Vec::new();
    for (expected_len, expected_more) in [(100, true), (100, true), (50, false)] {
        let page = page(&app, &user, Some(&after), Some(100)).await;
        let changes = page["changes"].as_array().unwrap();
        assert_eq!(changes.len(), expected_len, "{page}");
        assert_eq!(page["hasMore"], expected_more, "{page}");
        // The page's cursor is its last change's.
        assert_eq!(page["cursor"], changes.last().unwrap()["cursor"], "{page}");
        after = page["cursor"].as_str().unwrap().to_owned();
        all.extend(changes.iter().cloned());
    }
    assert_consecutive(&all, origin);
    let expected: Vec<(String, String)> = created
        .iter()
        .map(|id| ("CREATED".to_owned(), id.clone()))
        .collect();
    assert_eq!(summary(&all), expected);
    for (i, change) in all.iter().enumerate() {
        assert_eq!(change["todo"]["title"], format!("todo {i}"), "{change}");
        assert_eq!(change["todo"]["id"], change["todoId"], "{change}");
    }

    // At the end: nothing more, and the cursor stays where it was.
    let end = page(&app, &user, Some(&after), Some(100)).await;
    assert_eq!(end["changes"], json!([]), "{end}");
    assert_eq!(end["hasMore"], false, "{end}");
    assert_eq!(end["cursor"], after.as_str(), "{end}");

    // A change made after the last page comes next, alone.
    let late = app.create_todo_titled(&user, "late").await;
    let next = page(&app, &user, Some(&after), Some(100)).await;
    assert_eq!(
        summary(next["changes"].as_array().unwrap()),
        vec![("CREATED".to_owned(), late)]
    );
    assert_eq!(next["hasMore"], false, "{next}");
}

#[tokio::test]
async fn first_defaults_to_100_and_must_be_1_to_500() {
    let app = TestApp::spawn_with(&[ROOMY]).await;
    let user = app.register("sizes").await;
    for i in 0..60 {
        app.create_todo_titled(&user, &format!("todo {i}")).await;
    }
    assert_eq!(app.toggle_all(&user, true).await, 60);

    // Without `after`: from the oldest change kept, 100 by default.
    let first_page = page(&app, &user, None, None).await;
    let changes = first_page["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 100, "{first_page}");
    assert_eq!(first_page["hasMore"], true, "{first_page}");
    let oldest = seq(&changes[0]["cursor"]);
    assert_consecutive(changes, oldest - 1);
    let rest = page(&app, &user, first_page["cursor"].as_str(), None).await;
    assert_eq!(rest["changes"].as_array().unwrap().len(), 20, "{rest}");
    assert_eq!(rest["hasMore"], false, "{rest}");

    let one = page(&app, &user, None, Some(1)).await;
    assert_eq!(one["changes"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["changes"][0]["cursor"], changes[0]["cursor"]);
    assert_eq!(one["hasMore"], true, "{one}");
    let most = page(&app, &user, None, Some(500)).await;
    assert_eq!(most["changes"].as_array().unwrap().len(), 120, "{most}");
    assert_eq!(most["hasMore"], false, "{most}");

    for bad in [0, -1, 501, 10_000] {
        let body = pull(&app, &user, None, Some(bad)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "first {bad}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "first",
            "first {bad}: {body}"
        );
        assert!(body["data"].is_null(), "first {bad}: {body}");
    }
}

#[tokio::test]
async fn bad_cursors_are_refused_as_the_subscriptions_refuse_them() {
    let app = TestApp::spawn().await;
    let user = app.register("cursors").await;
    app.create_todo_titled(&user, "one").await;
    let current = seq(&page(&app, &user, None, None).await["cursor"]);

    let beyond = cursor_of(current + 1);
    for bad in ["not a cursor!", "ZXYx", "ZXYxOi0x", "%%%", beyond.as_str()] {
        let body = pull(&app, &user, Some(bad), None).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{bad}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "after",
            "{bad}: {body}"
        );
    }
    // Signed out: like every other query.
    let body = app.gql(super::PAGE, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    assert!(body["data"].is_null(), "{body}");
}
