//! The web app (`/app`) and client compatibility: Apollo Client and urql
//! (`tests/js/clients/`) run against the live server, and the app runs end to end in
//! headless Chromium: todos, sessions and a server restart (`tests/js/app-e2e.mjs`),
//! and two people sharing a list (`tests/js/sharing-e2e.mjs`).

use std::{process::Stdio, time::Duration};

use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::support::{TestApp, node_script};

/// Where the browser tests leave their screenshots (`app/`, `sharing/`).
const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e-screenshots");

/// `node tests/js/clients/<script> <baseUrl> <token>`: runs one client
/// library's cases and returns their JSON summary (the last stdout line).
async fn run_client(script: &str) -> Value {
    let app = TestApp::spawn().await;
    let user = app.register(script.trim_end_matches(".mjs")).await;
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        node_script(&format!("clients/{script}"))
            .arg(&app.address)
            .arg(&user.access_token)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("clients/{script} ran longer than 90 s"))
    .unwrap_or_else(|e| panic!("run node clients/{script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "clients/{script} failed:\n{stdout}\n{stderr}"
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no summary line from clients/{script}:\n{stdout}\n{stderr}"));
    assert_eq!(summary["ok"], true, "{summary}");
    summary
}

/// The case names each client script must report as passed.
fn assert_cases(summary: &Value, names: &[&str]) {
    let results = summary["results"].as_object().expect("results");
    for name in names {
        let case = results
            .iter()
            .find(|(k, _)| k.starts_with(name))
            .unwrap_or_else(|| panic!("no case starting with {name:?} in {summary}"));
        assert_eq!(case.1["ok"], true, "{name}: {}", case.1);
    }
}

/// The APQ request sequences the scripts observed (method, hash only or
/// full query, error code).
fn apq_requests(summary: &Value, case: &str) -> Vec<String> {
    let results = summary["results"].as_object().expect("results");
    let (_, result) = results
        .iter()
        .find(|(k, _)| k.starts_with(case))
        .unwrap_or_else(|| panic!("no case {case:?}"));
    serde_json::from_value(result["requests"].clone()).expect("requests")
}

#[tokio::test]
async fn apollo_client_cache_pagination_subscriptions_errors_and_apq() {
    let summary = run_client("apollo.mjs").await;
    assert_cases(
        &summary,
        &[
            "normalized cache updates a todo",
            "two pages merge with no duplicate",
            "a subscription receives an event",
            "BAD_USER_INPUT reaches the client",
            "APQ over POST",
            "APQ over GET",
        ],
    );
    assert_eq!(
        apq_requests(&summary, "APQ over POST"),
        [
            "POST hash → PERSISTED_QUERY_NOT_FOUND",
            "POST query+hash",
            "POST hash"
        ]
    );
    let get = apq_requests(&summary, "APQ over GET");
    assert_eq!(get[0], "GET hash → PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(get[2], "GET hash");
}

#[tokio::test]
async fn urql_cache_pagination_subscriptions_errors_and_apq() {
    let summary = run_client("urql.mjs").await;
    assert_cases(
        &summary,
        &[
            "normalized cache (Graphcache) updates a todo",
            "two pages merge with no duplicate",
            "a subscription receives an event",
            "BAD_USER_INPUT reaches the client",
            "APQ over POST",
            "APQ over GET",
        ],
    );
    assert_eq!(
        apq_requests(&summary, "APQ over GET"),
        [
            "GET hash → PERSISTED_QUERY_NOT_FOUND",
            "GET query+hash",
            "GET hash"
        ]
    );
}

#[tokio::test]
async fn frontend_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()[LOCATION], "/app");

    let res = client
        .get(format!("{}/app", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = res.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("https://"),
        "the page must load nothing remote"
    );
    for (file, ty) in [
        ("app.js", "text/javascript"),
        ("api.js", "text/javascript"),
        ("store.js", "text/javascript"),
        ("verify.js", "text/javascript"),
        ("ui.js", "text/javascript"),
        ("live.js", "text/javascript"),
        ("todos.js", "text/javascript"),
        ("outbox.js", "text/javascript"),
        ("conflicts.js", "text/javascript"),
        ("reorder.js", "text/javascript"),
        ("lists.js", "text/javascript"),
        ("share.js", "text/javascript"),
        ("invitations.js", "text/javascript"),
        ("app.css", "text/css"),
        ("icon.svg", "image/svg+xml"),
        ("vendor/graphql-ws/client.js", "text/javascript"),
        ("vendor/graphql-ws/LICENSE.md", "text/plain"),
    ] {
        let res = client
            .get(format!("{}/app/{file}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{file}");
        assert!(
            res.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(ty),
            "{file}"
        );
        assert_eq!(res.headers()[CACHE_CONTROL], "no-cache", "{file}");
    }
    for missing in ["nope.js", "../Cargo.toml", "vendor/../../Cargo.toml"] {
        let res = client
            .get(format!("{}/app/{missing}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{missing}");
    }
}

/// A fresh email verification code for the account of `email`, as its
/// verification email would carry it (these apps run no email workers).
async fn verification_code(app: &TestApp, email: &str) -> String {
    let mut conn = app.state.db.conn().await.unwrap();
    let user = todoql::auth::model::find_by_email(&mut conn, email)
        .await
        .unwrap()
        .unwrap();
    let (_, code) = app
        .state
        .auth
        .issue_verification_code(user.id, None)
        .await
        .unwrap()
        .unwrap();
    code.display()
}

/// Two browser contexts as one user, one as another; live add and complete
/// within a second; the email verification banner and link; a server
/// restart the page recovers from. The script asks for the restart on
/// stdout (`@@stop`, `@@restart`) and for a verification code
/// (`@@code <email>`), and this test answers on its stdin.
#[tokio::test]
async fn frontend_e2e_in_chromium_live_updates_isolation_and_restart() {
    // Short-lived access tokens, so the run includes refreshes and sockets
    // closed for an expired token, which the page must ride out unnoticed.
    let config = [("ACCESS_TOKEN_TTL_SECS", "10")];
    let mut app = Some(TestApp::spawn_with(&config).await);
    let database_url = app.as_ref().unwrap().database_url.clone();
    let address = app.as_ref().unwrap().address.clone();
    let port = address.rsplit(':').next().unwrap().to_owned();
    let screenshots = format!("{SCREENSHOTS}/app");
    let _ = std::fs::remove_dir_all(&screenshots);
    let mut child = node_script("app-e2e.mjs")
        .arg(&address)
        .arg(&screenshots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node tests/js/app-e2e.mjs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });

    let mut away: Option<TestApp> = None;
    let mut last = String::new();
    let drive = async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            match line.as_str() {
                "@@stop" => {
                    app.take().unwrap().stop().await.unwrap();
                    // Another instance on the same database, on another
                    // port: the page cannot see changes made through it.
                    let other = TestApp::spawn_on(database_url.clone(), &config).await;
                    let reply = format!("away {}\n", other.address);
                    away = Some(other);
                    stdin.write_all(reply.as_bytes()).await.unwrap();
                }
                "@@restart" => {
                    away.take().unwrap().stop().await.unwrap();
                    let on_port = [config[0], ("PORT", port.as_str())];
                    app = Some(TestApp::spawn_on(database_url.clone(), &on_port).await);
                    stdin.write_all(b"back\n").await.unwrap();
                }
                code if code.starts_with("@@code ") => {
                    let email = &code["@@code ".len()..];
                    let code = verification_code(app.as_ref().unwrap(), email).await;
                    let reply = format!("code {code}\n");
                    stdin.write_all(reply.as_bytes()).await.unwrap();
                }
                _ => last = line,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(170), drive)
        .await
        .expect("app-e2e.mjs ran longer than 170 s");
    let status = child.wait().await.unwrap();
    let stderr = stderr.await.unwrap();
    let summary: Value = serde_json::from_str(&last)
        .unwrap_or_else(|_| panic!("no summary from app-e2e.mjs: {last}\n{stderr}"));
    assert!(status.success(), "app-e2e.mjs failed: {summary}\n{stderr}");
    assert_eq!(summary["ok"], true, "{summary}\n{stderr}");
    assert_eq!(summary["blocked"], serde_json::json!([]));
    assert!(summary["timings"]["addedSeenInOtherMs"].as_u64().unwrap() <= 1000);
    assert!(
        summary["timings"]["completedSeenInOtherMs"]
            .as_u64()
            .unwrap()
            <= 1000
    );
    assert!(summary["refreshes"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["screenshots"].as_array().unwrap().len() >= 7);
    eprintln!("{summary}");
}

/// Two people in two browser contexts share a list: Alice creates
/// "Groceries" and invites Bob as an editor, Bob accepts from his inbox and
/// adds a todo Alice sees within a second, Alice reorders by drag and drop
/// (and the keyboard) and Bob sees the new order, then makes Bob a viewer
/// (his controls turn read-only live) and removes him (the list leaves his
/// sidebar live). Both verify their email through the page with a code the
/// script asks for (`@@code <email>`). Leaves the walkthrough's frames in
/// `target/e2e-screenshots/sharing/` (see `scripts/walkthrough.sh`).
#[tokio::test]
async fn frontend_e2e_in_chromium_lists_sharing_roles_and_reorder() {
    let app = TestApp::spawn().await;
    let screenshots = format!("{SCREENSHOTS}/sharing");
    let _ = std::fs::remove_dir_all(&screenshots);
    let mut child = node_script("sharing-e2e.mjs")
        .arg(&app.address)
        .arg(&screenshots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node tests/js/sharing-e2e.mjs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });

    let mut last = String::new();
    let drive = async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(email) = line.strip_prefix("@@code ") {
                let reply = format!("code {}\n", verification_code(&app, email).await);
                stdin.write_all(reply.as_bytes()).await.unwrap();
            } else {
                last = line;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(150), drive)
        .await
        .expect("sharing-e2e.mjs ran longer than 150 s");
    let status = child.wait().await.unwrap();
    let stderr = stderr.await.unwrap();
    let summary: Value = serde_json::from_str(&last)
        .unwrap_or_else(|_| panic!("no summary from sharing-e2e.mjs: {last}\n{stderr}"));
    assert!(
        status.success(),
        "sharing-e2e.mjs failed: {summary}\n{stderr}"
    );
    assert_eq!(summary["ok"], true, "{summary}\n{stderr}");
    assert_eq!(summary["blocked"], serde_json::json!([]));
    let timing = |name: &str| summary["timings"][name].as_u64().unwrap_or(u64::MAX);
    assert!(timing("addedSeenByOwnerMs") <= 1000, "{summary}");
    assert!(timing("reorderSeenByOtherMs") <= 2000, "{summary}");
    assert!(timing("readOnlySeenMs") <= 2000, "{summary}");
    assert!(timing("removalSeenMs") <= 2000, "{summary}");
    // Ten states, each seen from both windows, and the README's still.
    assert_eq!(summary["screenshots"].as_array().unwrap().len(), 21);
    eprintln!("{summary}");
}

/// The web app's todo store (`tests/js/store-unit.mjs`, in Node): queued
/// offline writes laid over the server's copy, and which copies a deleted
/// todo accepts again.
#[tokio::test]
async fn frontend_store_lays_queued_writes_over_the_server_copy() {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        node_script("store-unit.mjs").kill_on_drop(true).output(),
    )
    .await
    .expect("store-unit.mjs ran longer than 30 s")
    .expect("run node tests/js/store-unit.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no summary from store-unit.mjs: {stdout}\n{stderr}"));
    assert!(output.status.success(), "{summary}\n{stderr}");
    assert_eq!(summary["ok"], true, "{summary}\n{stderr}");
    assert!(summary["passed"].as_u64().unwrap() >= 11, "{summary}");
}

/// The web app offline: the page goes offline, its user adds, completes and
/// deletes todos (shown at once, queued in `IndexedDB` with an idempotency
/// key each) while their second device changes the same list over HTTP;
/// back online, one answer is lost and the write resent with its key (a
/// replay), the queue drains in order, the change feed is pulled, and both
/// sides converge with every change exactly once (checked over HTTP). Also:
/// the queue survives a reload while the server is out of reach, a conflict
/// on the same field shows both versions, and a delete is undone from the
/// snackbar. Screenshots in `target/e2e-screenshots/offline/`.
#[tokio::test]
async fn frontend_e2e_in_chromium_offline_queue_catch_up_conflict_and_undo() {
    let app = TestApp::spawn().await;
    let screenshots = format!("{SCREENSHOTS}/offline");
    let _ = std::fs::remove_dir_all(&screenshots);
    let output = tokio::time::timeout(
        Duration::from_secs(180),
        node_script("offline-e2e.mjs")
            .arg(&app.address)
            .arg(&screenshots)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("offline-e2e.mjs ran longer than 180 s")
    .expect("run node tests/js/offline-e2e.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no summary from offline-e2e.mjs: {stdout}\n{stderr}"));
    assert!(
        output.status.success(),
        "offline-e2e.mjs failed: {summary}\n{stderr}"
    );
    assert_eq!(summary["ok"], true, "{summary}\n{stderr}");
    assert_eq!(summary["blocked"], serde_json::json!([]));
    assert_eq!(summary["lostAnswers"], 1, "{summary}");
    assert!(summary["replays"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["pulls"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["conflictDialog"], true, "{summary}");
    assert_eq!(summary["screenshots"].as_array().unwrap().len(), 6);
    // Every write reached the server once under its own key; the one whose
    // answer was lost came again with the same key and was replayed.
    let answers = summary["answers"].as_array().unwrap();
    let mut keys: Vec<&str> = answers
        .iter()
        .filter(|a| a["replayed"] == false && a["status"] != 409)
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    let total = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), total, "a key ran twice: {summary}");
    assert_eq!(summary["replays"], 1, "{summary}");
    // 4 online creates, 3 offline writes (the 4th is the replay), 1 after the
    // reload, the conflicting update and its resend, the delete and its undo.
    assert!(total >= 12, "{summary}");
    eprintln!("{summary}");
}
