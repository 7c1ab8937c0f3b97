//! Idle memory: a server's resident set with many idle subscribers.

use std::{sync::Arc, time::Duration};

use crate::{
    SUBSCRIBERS, USERS,
    env::{Env, Server, load_average, status_kb},
    fanout::connect_many,
    report::Row,
};

pub async fn idle_memory(env: &Env, tokens: &Arc<Vec<String>>) -> anyhow::Result<(Row, Server)> {
    let server = env.serve("idle", &[("CACHE", "true".into())]).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start_kb = status_kb(server.pid(), "VmRSS:");
    let sockets = connect_many(&[server.ws_url()], tokens, SUBSCRIBERS, |i| {
        (i as u32 % USERS) + 1
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected_kb = status_kb(server.pid(), "VmRSS:");
    // A second thousand: the marginal cost of a socket, without the
    // one-off growth the first thousand cause (the database pool filling
    // up to its size for their authentication, allocator arenas).
    let more = connect_many(&[server.ws_url()], tokens, SUBSCRIBERS, |i| {
        (i as u32 % USERS) + 1
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let doubled_kb = status_kb(server.pid(), "VmRSS:");
    drop(sockets);
    drop(more);
    let per_socket_kb = (connected_kb.saturating_sub(start_kb)) as f64 / SUBSCRIBERS as f64;
    let marginal_kb = (doubled_kb.saturating_sub(connected_kb)) as f64 / SUBSCRIBERS as f64;
    let mut row = Row {
        name: "idle memory".into(),
        group: "memory".into(),
        unit: String::new(),
        ops: SUBSCRIBERS as u64,
        peak_rss_mb: Some(doubled_kb as f64 / 1024.0),
        load_1m: load_average()[0],
        target: Some("RSS at start <= 30 MB, <= 16 KB per idle WebSocket (marginal)".into()),
        target_met: Some(start_kb as f64 / 1024.0 <= 30.0 && marginal_kb <= 16.0),
        note: Some(format!(
            "fresh instance; RSS 1 s after /healthz, then with {SUBSCRIBERS} and {} authenticated idle graphql-transport-ws sockets (connection_ack, no subscription); kb_per_ws_first = (RSS at 1,000 - at start) / 1,000 includes one-off growth; kb_per_ws = (RSS at 2,000 - at 1,000) / 1,000",
            2 * SUBSCRIBERS
        )),
        ..Row::default()
    };
    row.extra
        .insert("rss_start_mb".into(), start_kb as f64 / 1024.0);
    row.extra
        .insert("rss_1000_ws_mb".into(), connected_kb as f64 / 1024.0);
    row.extra.insert("kb_per_ws_first".into(), per_socket_kb);
    row.extra.insert("kb_per_ws".into(), marginal_kb);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok((row, server))
}
