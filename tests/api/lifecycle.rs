//! Process-level behaviour: health endpoints, readiness, subcommands and
//! graceful shutdown.

use crate::helpers::TestApp;

#[tokio::test]
async fn ping_answers_pong() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/ping", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "pong");
}
