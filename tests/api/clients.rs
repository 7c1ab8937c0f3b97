//! Reference clients against the running server: the npm `graphql-ws`
//! client (the reference implementation of graphql-transport-ws).

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
