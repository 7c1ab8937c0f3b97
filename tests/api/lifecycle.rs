//! Process-level behaviour: health endpoints, readiness, the binary's
//! subcommands, configuration errors and graceful shutdown.

use std::{process::Stdio, time::Duration};

use diesel_async::RunQueryDsl;
use tokio::process::Command;

use crate::support::{
    TestApp, admin_conn, fresh_database,
    process::{BIN, free_port},
};

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

#[tokio::test]
async fn readiness_follows_the_database() {
    let app = TestApp::spawn().await;
    let (status, body) = app.readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["postgres"], "up");
    if crate::support::redis_url().is_some() {
        assert_eq!(body["checks"]["redis"], "up");
    }
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Take the database away: not ready, but still alive.
    let name = app.database_url.rsplit('/').next().unwrap().to_owned();
    let mut admin = admin_conn().await;
    diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let (status, body) = app.readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["postgres"], "down");
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // And a GraphQL request gets a clean internal error, no details.
    let body = app.gql("{ me { id } }", serde_json::json!({})).await;
    assert!(body["errors"].is_array());
    let text = body.to_string();
    assert!(
        !text.contains("database") && !text.contains("postgres"),
        "{text}"
    );
}

#[tokio::test]
async fn stopping_closes_the_listener() {
    let app = TestApp::spawn().await;
    let address = app.address.clone();
    let client = app.client.clone();
    app.stop().await.expect("clean stop");
    assert!(client.get(format!("{address}/ping")).send().await.is_err());
}

/// `todoql serve` as a process: healthcheck passes while it runs, SIGTERM
/// makes it exit 0, then the healthcheck fails.
#[tokio::test]
async fn binary_serves_checks_health_and_exits_cleanly_on_sigterm() {
    let database_url = fresh_database().await;
    let port = free_port().to_string();
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", &database_url)
        .env("PORT", &port)
        .env("JWT_SECRET", "x".repeat(40))
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let healthcheck = || {
        Command::new(BIN)
            .arg("healthcheck")
            .env("PORT", &port)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
    };
    let mut healthy = false;
    for _ in 0..100 {
        if healthcheck().await.unwrap().success() {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the server never became healthy");

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(!healthcheck().await.unwrap().success());
}

#[tokio::test]
async fn bad_configuration_stops_start_up_naming_the_variable() {
    for (name, value, extra) in [
        ("JWT_SECRET", "", ("APP_ENV", "production")),
        ("JWT_SECRET", "too-short", ("APP_ENV", "development")),
        ("PORT", "http", ("APP_ENV", "development")),
    ] {
        let out = Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(name, value)
            .env(extra.0, extra.1)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name), "{name}={value}: {stderr}");
    }
}

#[tokio::test]
async fn schema_subcommand_prints_the_sdl() {
    let out = Command::new(BIN).arg("schema").output().await.unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), todoql::graphql::sdl());
}

#[tokio::test]
async fn migrate_subcommand_is_idempotent() {
    let database_url = fresh_database().await;
    for _ in 0..2 {
        let out = Command::new(BIN)
            .arg("migrate")
            .env("DATABASE_URL", &database_url)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
