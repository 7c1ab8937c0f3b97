//! In-process fan-out of committed events, bridged across instances by
//! Redis pub/sub.
//!
//! Each process holds one Redis subscription (not one per client) on the
//! channel `<prefix>todo-events` and dispatches what arrives to per-user
//! broadcast channels, each bounded in transactions (a subscriber that
//! falls behind lags and is told to resume). Publishing delivers to local subscribers at once
//! and queues the event for Redis; a publisher task sends the queue in
//! order, retrying with backoff while Redis is down. After every (re)connect
//! of the subscription, local subscribers are told to resynchronise from
//! PostgreSQL, so an outage loses nothing. Without Redis, fan-out is local.
//!
//! Redis hands this process its own messages back too (it subscribes to
//! the channel it publishes on). Those were dispatched at publish time
//! already, so they are recognised by their bytes ([`Echoes`]) and dropped
//! before parsing: parsing and dispatching them again woke every
//! subscriber of the event's users a second time, only for each to drop
//! the copy by sequence number (the subscription loop alone was 4 % of the
//! server's time in a 50-member list's fan-out, `docs/benchmarks.md`).

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasher, RandomState},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::event::Change;

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum BusMessage {
    /// The events of one committed transaction, in sequence order.
    Events(Arc<Vec<Change>>),
    /// Messages may have been lost: read from PostgreSQL what came after
    /// your last event.
    Resync,
}

/// How many events the publisher queue holds while Redis is down before
/// it drops the oldest (subscribers still catch up from PostgreSQL).
const PUBLISH_QUEUE: usize = 10_000;

/// The fan-out hub.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    channels: Mutex<HashMap<Uuid, broadcast::Sender<BusMessage>>>,
    capacity: usize,
    publisher: Option<mpsc::Sender<Arc<Vec<Change>>>>,
    echoes: Mutex<Echoes>,
}

impl EventBus {
    /// A bus that fans out within this process only.
    pub fn local(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                channels: Mutex::new(HashMap::new()),
                capacity: capacity.max(1),
                publisher: None,
                echoes: Mutex::default(),
            }),
        }
    }

    /// A bus bridged through Redis at `url` on `channel`. Spawns the
    /// subscriber and publisher tasks; both reconnect on their own.
    pub fn redis(url: &str, channel: String, capacity: usize) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
        let bus = Self {
            inner: Arc::new(Inner {
                channels: Mutex::new(HashMap::new()),
                capacity: capacity.max(1),
                publisher: Some(tx),
                echoes: Mutex::default(),
            }),
        };
        tokio::spawn(publish_loop(
            client.clone(),
            channel.clone(),
            rx,
            Arc::downgrade(&bus.inner),
        ));
        tokio::spawn(subscribe_loop(client, channel, Arc::downgrade(&bus.inner)));
        Ok(bus)
    }

    /// Listens to `user`'s events.
    pub fn subscribe(&self, user: Uuid) -> broadcast::Receiver<BusMessage> {
        let mut channels = self
            .inner
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Forget channels whose subscribers are all gone.
        channels.retain(|_, tx| tx.receiver_count() > 0);
        channels
            .entry(user)
            .or_insert_with(|| broadcast::channel(self.inner.capacity).0)
            .subscribe()
    }

    /// Delivers the events of one committed transaction (all of one user)
    /// locally now, and to other instances through Redis. One transaction is
    /// one message, so a bulk change does not overflow subscriber buffers.
    pub fn publish(&self, events: Vec<Change>) {
        let Some(user) = events.first().map(Change::user_id) else {
            return;
        };
        let events = Arc::new(events);
        self.inner
            .dispatch(BusMessage::Events(events.clone()), user);
        if let Some(publisher) = &self.inner.publisher
            && publisher.try_send(events).is_err()
        {
            tracing::warn!("event publish queue full; subscribers will catch up from PostgreSQL");
        }
    }
}

impl Inner {
    fn dispatch(&self, message: BusMessage, user: Uuid) {
        let channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tx) = channels.get(&user) {
            // No receivers is fine: nobody is listening.
            let _ = tx.send(message);
        }
    }

    /// Whether anyone here listens to `user`'s events.
    fn follows(&self, user: Uuid) -> bool {
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&user)
            .is_some_and(|tx| tx.receiver_count() > 0)
    }

    fn echoes(&self) -> std::sync::MutexGuard<'_, Echoes> {
        self.echoes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn resync_all(&self) {
        let channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for tx in channels.values() {
            let _ = tx.send(BusMessage::Resync);
        }
    }
}

/// Backoff between reconnection attempts: 100 ms doubling to 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(5))
}

/// The most messages one write to Redis carries.
const PUBLISH_BATCH: usize = 256;

/// Sends the queue to Redis in order. Whatever is queued when a write
/// starts goes in that one write, as a pipeline of `PUBLISH` commands (one
/// round trip): sent one by one, awaiting each answer, a burst of commits
/// (a round of 100 users' writes) made the last of them wait behind every
/// other's round trip, each also waiting its turn on a busy runtime. A
/// failed write is sent again whole after reconnecting: subscribers drop
/// what they already had by sequence number.
async fn publish_loop(
    client: redis::Client,
    channel: String,
    mut queue: mpsc::Receiver<Arc<Vec<Change>>>,
    bus: std::sync::Weak<Inner>,
) {
    let mut pending: Vec<Arc<Vec<Change>>> = Vec::new();
    let mut attempt = 0;
    loop {
        if queue.is_closed() && pending.is_empty() && queue.is_empty() {
            // The bus is gone and nothing is left to send.
            return;
        }
        let mut conn = match client.get_multiplexed_async_connection().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "redis publish connection failed; retrying");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
                continue;
            }
        };
        attempt = 0;
        loop {
            if pending.is_empty() {
                match queue.recv().await {
                    Some(events) => pending.push(events),
                    None => return,
                }
            }
            while pending.len() < PUBLISH_BATCH {
                match queue.try_recv() {
                    Ok(events) => pending.push(events),
                    Err(_) => break,
                }
            }
            let mut pipe = redis::pipe();
            {
                let inner = bus.upgrade();
                let mut echoes = inner.as_ref().map(|inner| inner.echoes());
                for events in &pending {
                    match serde_json::to_string(&**events) {
                        Ok(payload) => {
                            // Remembered before it is sent: its echo
                            // cannot arrive earlier.
                            if let Some(echoes) = echoes.as_mut() {
                                echoes.sent(payload.as_bytes());
                            }
                            pipe.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
                        }
                        Err(e) => tracing::error!(error = %e, "serialising an event"),
                    }
                }
            }
            if pipe.is_empty() {
                pending.clear();
                continue;
            }
            let sent: redis::RedisResult<()> = pipe.query_async(&mut conn).await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "redis publish failed; reconnecting");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
                break;
            }
            pending.clear();
        }
    }
}

async fn subscribe_loop(client: redis::Client, channel: String, bus: std::sync::Weak<Inner>) {
    let mut attempt = 0;
    loop {
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            redis::RedisResult::Ok(pubsub)
        }
        .await;
        let pubsub = match connected {
            Ok(pubsub) => pubsub,
            Err(e) => {
                if bus.strong_count() == 0 {
                    return;
                }
                tracing::warn!(error = %e, attempt, "redis subscription failed; retrying");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
                continue;
            }
        };
        if attempt > 0 {
            tracing::info!("redis subscription restored");
        }
        attempt = 0;
        // Anything published while we were not subscribed is in PostgreSQL.
        match bus.upgrade() {
            Some(inner) => inner.resync_all(),
            None => return,
        }
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let Some(inner) = bus.upgrade() else { return };
            let payload = message.get_payload_bytes();
            if inner.echoes().returned(payload) {
                // Dispatched when it was published.
                continue;
            }
            if message_user(payload).is_some_and(|user| !inner.follows(user)) {
                // Nobody here follows them; a subscriber that starts
                // later reads its start position from PostgreSQL.
                continue;
            }
            let events = serde_json::from_slice::<Vec<Change>>(payload).ok();
            match events {
                Some(events) => {
                    if let Some(user) = events.first().map(Change::user_id) {
                        inner.dispatch(BusMessage::Events(Arc::new(events)), user);
                    }
                }
                None => tracing::warn!("ignoring a malformed event message"),
            }
        }
        tracing::warn!("redis subscription lost; reconnecting");
    }
}

/// The user of a bus message's events (one user's, see
/// [`EventBus::publish`]), read without building the events: every other
/// field is skipped. `None` when it cannot be read; the caller then parses
/// the message in full, as before.
fn message_user(payload: &[u8]) -> Option<Uuid> {
    #[derive(serde::Deserialize)]
    struct Owner {
        user_id: Uuid,
    }
    let owners: Vec<Owner> = serde_json::from_slice(payload).ok()?;
    owners.first().map(|o| o.user_id)
}

/// How many published messages [`Echoes`] remembers.
const ECHOES: usize = 8_192;

/// The messages this process published whose copy from Redis has not come
/// back yet, by a hash of their bytes (keyed per process, so no other
/// instance's message can be made to look like one) and their length.
///
/// Forgetting errs one way only: a message whose echo never comes (a write
/// retried after it got through, a subscription lost meanwhile) is
/// forgotten after [`ECHOES`] newer ones, and an echo not recognised is
/// dispatched again, which subscribers drop by sequence number, as they
/// did before echoes were recognised at all.
#[derive(Default)]
struct Echoes {
    hasher: RandomState,
    /// Outstanding (hash, length) → how many copies are due.
    due: HashMap<(u64, usize), u32>,
    /// Keys in the order they were sent, for forgetting the oldest.
    order: VecDeque<(u64, usize)>,
}

impl Echoes {
    fn key(&self, payload: &[u8]) -> (u64, usize) {
        (self.hasher.hash_one(payload), payload.len())
    }

    /// `payload` is about to be published.
    fn sent(&mut self, payload: &[u8]) {
        let key = self.key(payload);
        *self.due.entry(key).or_default() += 1;
        self.order.push_back(key);
        while self.order.len() > ECHOES {
            if let Some(old) = self.order.pop_front() {
                self.forget(old);
            }
        }
    }

    /// Whether `payload` (just received) is the echo of one this process
    /// published; one copy of it is then no longer due.
    fn returned(&mut self, payload: &[u8]) -> bool {
        if self.due.is_empty() {
            return false;
        }
        let key = self.key(payload);
        if !self.due.contains_key(&key) {
            return false;
        }
        // Its place in `order` stays until it is the oldest: forgetting a
        // key no longer due does nothing.
        self.forget(key);
        true
    }

    fn forget(&mut self, key: (u64, usize)) {
        if let Some(count) = self.due.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.due.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_known_by_its_user_without_building_it() {
        use crate::events::{EventKind, TodoEvent};
        let user = Uuid::from_u128(7);
        let event = |seq| {
            Change::Todo(TodoEvent {
                user_id: user,
                seq,
                kind: EventKind::Deleted,
                todo_id: Uuid::from_u128(9),
                snapshot: None,
                occurred_at: chrono::DateTime::UNIX_EPOCH,
                list_id: Uuid::from_u128(8),
                from_list_id: None,
            })
        };
        let payload = serde_json::to_vec(&vec![event(1), event(2)]).unwrap();
        assert_eq!(message_user(&payload), Some(user));
        assert_eq!(message_user(b"[]"), None);
        assert_eq!(message_user(b"not json"), None);
        assert_eq!(message_user(br#"[{"type":"Todo"}]"#), None, "no user");
    }

    #[test]
    fn echoes_are_recognised_once_per_copy_sent() {
        let mut echoes = Echoes::default();
        assert!(!echoes.returned(b"[1]"), "nothing sent yet");
        echoes.sent(b"[1]");
        echoes.sent(b"[2]");
        echoes.sent(b"[2]");
        assert!(!echoes.returned(b"[3]"), "another instance's message");
        assert!(echoes.returned(b"[2]"));
        assert!(echoes.returned(b"[1]"));
        assert!(echoes.returned(b"[2]"), "sent twice, due twice");
        assert!(!echoes.returned(b"[2]"), "no third copy is due");
        assert!(!echoes.returned(b"[1]"));
    }

    #[test]
    fn echoes_forget_the_oldest_beyond_their_bound() {
        let mut echoes = Echoes::default();
        echoes.sent(b"first");
        for i in 0..ECHOES {
            echoes.sent(i.to_string().as_bytes());
        }
        assert!(!echoes.returned(b"first"), "forgotten: dispatched again");
        assert!(echoes.returned(b"0"));
        let last = (ECHOES - 1).to_string();
        assert!(echoes.returned(last.as_bytes()));
        assert_eq!(echoes.order.len(), ECHOES);
        assert!(echoes.due.len() < ECHOES, "what returned is no longer due");
    }
}
