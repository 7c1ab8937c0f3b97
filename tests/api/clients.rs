//! Reference clients against the running server: the npm `graphql-ws`
//! client (the reference implementation of graphql-transport-ws), and an
//! offline client replaying its queue with idempotency keys.

use serde_json::Value;

use crate::support::{TestApp, node_script};

#[tokio::test]
async fn reference_graphql_ws_client_queries_subscribes_and_completes() {
    let app = TestApp::spawn().await;
    let user = app.register("wsclient").await;
    let output = node_script("graphql-ws-client.mjs")
        .arg(&app.address)
        .arg(&user.access_token)
        .output()
        .await
        .expect("run node tests/js/graphql-ws-client.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "graphql-ws run failed:\n{stdout}\n{stderr}"
    );
    let summary: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("summary line");
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["event"], "CREATED");
    assert_eq!(summary["me"], user.email.as_str());
    assert_eq!(summary["problems"], serde_json::json!([]));
}

/// An offline client's queue replayed with idempotency keys (issue 16):
/// 50 changes over HTTP and WebSocket, every response lost, all resent.
#[tokio::test]
async fn an_offline_client_resending_its_queue_changes_everything_once() {
    let app = TestApp::spawn().await;
    let user = app.register("offline").await;
    let output = node_script("offline-replay.mjs")
        .arg(&app.address)
        .arg(&user.access_token)
        .output()
        .await
        .expect("run node tests/js/offline-replay.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "offline replay failed:\n{stdout}\n{stderr}"
    );
    let summary: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("summary line");
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["resent"], 50, "{summary}");
    // 20 created, 10 of them deleted; each survivor updated exactly once.
    assert_eq!(summary["todos"], 10, "{summary}");
    assert_eq!(summary["versions"], serde_json::json!([2]), "{summary}");
    assert_eq!(summary["allCompleted"], true, "{summary}");
    // Each of the 50 changes reached the subscription exactly once.
    assert_eq!(summary["events"], 50, "{summary}");
    assert_eq!(summary["uniqueCursors"], 50, "{summary}");
    assert_eq!(
        summary["kinds"],
        serde_json::json!({ "CREATED": 20, "UPDATED": 20, "DELETED": 10 }),
        "{summary}"
    );
    assert_eq!(app.todo_counts(&user).await.0, 11, "with the sentinel");
}
