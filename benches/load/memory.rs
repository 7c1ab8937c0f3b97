//! Idle memory: a server's resident set with many idle sockets, then with
//! a `todoEvents` subscription on each.

use std::{sync::Arc, time::Duration};

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::{
    SUBSCRIBERS, SUBSCRIPTION, USERS,
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
    // The same sockets with an active `todoEvents` subscription each (10
    // sockets per user): the first thousand start a run per user, the
    // second thousand join them; the second's growth is the marginal cost
    // of a subscription.
    let mut sockets = sockets;
    let mut more = more;
    subscribe_all(&mut sockets).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let subscribed_kb = status_kb(server.pid(), "VmRSS:");
    subscribe_all(&mut more).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let both_subscribed_kb = status_kb(server.pid(), "VmRSS:");
    drop(sockets);
    drop(more);
    let per_socket_kb = (connected_kb.saturating_sub(start_kb)) as f64 / SUBSCRIBERS as f64;
    let marginal_kb = (doubled_kb.saturating_sub(connected_kb)) as f64 / SUBSCRIBERS as f64;
    let subscription_first_kb =
        (subscribed_kb.saturating_sub(doubled_kb)) as f64 / SUBSCRIBERS as f64;
    let subscription_kb =
        (both_subscribed_kb.saturating_sub(subscribed_kb)) as f64 / SUBSCRIBERS as f64;
    let subscribed_ws_kb = marginal_kb + subscription_kb;
    let mut row = Row {
        name: "idle memory".into(),
        group: "memory".into(),
        unit: String::new(),
        ops: SUBSCRIBERS as u64,
        peak_rss_mb: Some(both_subscribed_kb as f64 / 1024.0),
        load_1m: load_average()[0],
        target: Some(
            "RSS at start <= 30 MB, <= 16 KB per idle WebSocket (marginal), <= 16 KB per subscribed WebSocket (marginal)".into(),
        ),
        target_met: Some(
            start_kb as f64 / 1024.0 <= 30.0 && marginal_kb <= 16.0 && subscribed_ws_kb <= 16.0,
        ),
        note: Some(format!(
            "fresh instance; RSS 1 s after /healthz, then with {SUBSCRIBERS} and {} authenticated idle graphql-transport-ws sockets (connection_ack, no subscription); kb_per_ws_first = (RSS at 1,000 - at start) / 1,000 includes one-off growth; kb_per_ws = (RSS at 2,000 - at 1,000) / 1,000; then a todoEvents subscription on the first 1,000 (kb_per_subscription_first, one run per user of {USERS} starts) and on the second 1,000 (kb_per_subscription, marginal); kb_per_subscribed_ws = kb_per_ws + kb_per_subscription",
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
    row.extra
        .insert("kb_per_subscription_first".into(), subscription_first_kb);
    row.extra
        .insert("kb_per_subscription".into(), subscription_kb);
    row.extra
        .insert("kb_per_subscribed_ws".into(), subscribed_ws_kb);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok((row, server))
}

/// Sends a `todoEvents` subscription on every socket.
async fn subscribe_all(sockets: &mut [crate::fanout::Socket]) -> anyhow::Result<()> {
    let subscribe = serde_json::json!({
        "type": "subscribe", "id": "1", "payload": { "query": SUBSCRIPTION },
    })
    .to_string();
    for socket in sockets {
        socket.send(Message::text(subscribe.clone())).await?;
    }
    Ok(())
}
