//! Recording events inside the caller's transaction, and subscription
//! streams that deliver every event of a user exactly once, in order:
//! replay from PostgreSQL after a cursor, then live events from the bus,
//! de-duplicated by sequence number, with gaps (a lost pub/sub message, a
//! Redis outage) filled from PostgreSQL.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, SubsecRound, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

pub use super::event::{
    Change, EventKind, ListAction, ListEvent, ListSnapshot, TodoEvent, TodoSnapshot,
};
use super::{
    EventError,
    bus::{BusMessage, EventBus},
    cursor,
    feed::{self, FeedPage, PageSize},
    model::{self, NewEvent},
};
use crate::{
    db::{Conn, Db},
    telemetry::Metrics,
    todos::model::TodoRow,
};

/// Events written by a transaction, waiting for their sequence numbers:
/// PostgreSQL numbers them while the transaction commits, so they can only
/// be published after it (see [`EventService::publish`]).
#[derive(Debug, Default)]
#[must_use = "recorded events are published after the commit"]
pub struct Recorded {
    /// The events, `seq` still 0, in insertion order.
    events: Vec<Change>,
    /// Their row ids, in the same order.
    ids: Vec<i64>,
}

impl Recorded {
    /// How many events the transaction wrote.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether it wrote none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Now, at the database's precision, so live and replayed events are equal.
pub fn event_time() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The events of changed todos `rows` of list `list_id`, one per todo for
/// each member of `audience` (`DELETED` ones without a snapshot).
pub fn todo_changes(
    audience: &[Uuid],
    kind: EventKind,
    list_id: Uuid,
    rows: &[TodoRow],
) -> Vec<Change> {
    let occurred_at = event_time();
    let snapshots: Vec<Option<Arc<TodoSnapshot>>> = rows
        .iter()
        .map(|row| (kind != EventKind::Deleted).then(|| Arc::new(TodoSnapshot::from(row))))
        .collect();
    audience
        .iter()
        .flat_map(|user| {
            rows.iter().zip(&snapshots).map(move |(row, snapshot)| {
                Change::Todo(TodoEvent {
                    user_id: *user,
                    seq: 0,
                    kind,
                    todo_id: row.id,
                    snapshot: snapshot.clone(),
                    occurred_at,
                    list_id,
                    from_list_id: None,
                })
            })
        })
        .collect()
}

/// Records events on the caller's connection and inside the caller's
/// transaction, so they exist exactly when the change committed. Call it
/// once per transaction, with every event the transaction makes: the
/// user-id order below only holds within one call.
///
/// No lock is taken here: the events get their per-user sequence numbers
/// at COMMIT, from a deferred trigger that locks each user's row in the
/// order the rows were inserted. They are inserted in user-id order, so two
/// transactions that write events of the same users lock those rows in the
/// same order and cannot deadlock (a list's 50 members included).
pub async fn record(conn: &Conn, mut changes: Vec<Change>) -> diesel::QueryResult<Recorded> {
    if changes.is_empty() {
        return Ok(Recorded::default());
    }
    // Stable: one user's events keep the caller's order.
    changes.sort_by_key(Change::user_id);
    let snapshots = SnapshotTexts::of(&changes)?;
    let rows: Vec<NewEvent<'_>> = changes
        .iter()
        .zip(&snapshots.of_change)
        .map(|(change, snapshot)| {
            let snapshot = snapshot.map(|i| snapshots.texts[i].as_str());
            match change {
                Change::Todo(e) => NewEvent {
                    user_id: e.user_id,
                    kind: e.kind.as_str(),
                    todo_id: Some(e.todo_id),
                    snapshot,
                    occurred_at: e.occurred_at,
                    list_id: e.list_id,
                    from_list_id: e.from_list_id,
                },
                Change::List(e) => NewEvent {
                    user_id: e.user_id,
                    kind: e.action.as_str(),
                    todo_id: None,
                    snapshot,
                    occurred_at: e.occurred_at,
                    list_id: e.list_id,
                    from_list_id: None,
                },
            }
        })
        .collect();
    // Under an idempotency key, the same statement marks the key's claim
    // applied (crate::write_claim explains why).
    let ids = match crate::write_claim::current() {
        Some(claim) => model::insert_claimed(conn, &rows, &claim).await?,
        None => model::insert(conn, &rows).await?,
    };
    Ok(Recorded {
        events: changes,
        ids,
    })
}

/// The snapshots of a transaction's events as JSON text, each serialised
/// once: a change to a list gives its members' events one shared todo
/// snapshot ([`todo_changes`]), which was serialised once per member
/// (about half of the server's time in a write to a 50-member list,
/// `docs/benchmarks.md`).
struct SnapshotTexts {
    texts: Vec<String>,
    /// Per change, in order: its snapshot's index in `texts`.
    of_change: Vec<Option<usize>>,
}

impl SnapshotTexts {
    fn of(changes: &[Change]) -> diesel::QueryResult<Self> {
        let to_text = |v: Result<String, serde_json::Error>| {
            v.map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
        };
        let mut texts = Vec::new();
        let mut known: HashMap<*const TodoSnapshot, usize> = HashMap::new();
        let mut of_change = Vec::with_capacity(changes.len());
        for change in changes {
            let index = match change {
                Change::Todo(TodoEvent {
                    snapshot: Some(snapshot),
                    ..
                }) => match known.entry(Arc::as_ptr(snapshot)) {
                    Entry::Occupied(at) => Some(*at.get()),
                    Entry::Vacant(slot) => {
                        texts.push(to_text(serde_json::to_string(&**snapshot))?);
                        Some(*slot.insert(texts.len() - 1))
                    }
                },
                Change::List(ListEvent {
                    snapshot: Some(snapshot),
                    ..
                }) => {
                    texts.push(to_text(serde_json::to_string(snapshot))?);
                    Some(texts.len() - 1)
                }
                Change::Todo(_) | Change::List(_) => None,
            };
            of_change.push(index);
        }
        Ok(Self { texts, of_change })
    }
}

/// Reads the numbers the commit gave `recorded`'s rows (nothing to read,
/// and nothing sent, when it recorded none): poll it together with
/// `COMMIT` (`db::pipeline::commit`), so it costs no round trip of its
/// own, then hand the answer to [`EventService::deliver`]. Sent after the
/// `COMMIT` on the same connection, it sees what the commit numbered.
pub async fn numbers(conn: &Conn, recorded: &Recorded) -> diesel::QueryResult<Vec<(i64, i64)>> {
    if recorded.is_empty() {
        return Ok(Vec::new());
    }
    model::numbers(conn, &recorded.ids).await
}

/// How many events one catch-up query reads.
const BATCH: i64 = 500;

/// Subscriptions and publishing.
#[derive(Clone)]
pub struct EventService {
    db: Db,
    bus: EventBus,
    retention: Duration,
    metrics: Metrics,
}

impl EventService {
    /// The service over `db` and `bus`, keeping events for `retention`,
    /// counting deliveries in `metrics`.
    pub fn new(db: Db, bus: EventBus, retention: Duration, metrics: Metrics) -> Self {
        Self {
            db,
            bus,
            retention,
            metrics,
        }
    }

    /// The bus (for publishing after commit).
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Publishes the events of a committed transaction, once it has read
    /// the numbers the commit gave them (one indexed query, no lock), on
    /// `conn`: the connection that committed them, so that publishing
    /// never waits for a second one from the pool. Never fails: if the
    /// numbers cannot be read, subscribers find the events in PostgreSQL
    /// at the next event or resynchronisation.
    pub async fn publish(&self, conn: &mut Conn, recorded: Recorded) {
        if recorded.is_empty() {
            return;
        }
        let numbers = model::numbers(conn, &recorded.ids).await;
        self.deliver(recorded, numbers);
    }

    /// Hands `recorded` to the bus with the `numbers` its commit gave it,
    /// as read by [`numbers`] in the same write as the `COMMIT` (see
    /// `db::pipeline::commit`); [`Self::publish`] reads them itself.
    pub fn deliver(&self, recorded: Recorded, numbers: diesel::QueryResult<Vec<(i64, i64)>>) {
        if recorded.is_empty() {
            return;
        }
        let numbers = match numbers {
            Ok(numbers) => numbers,
            Err(error) => {
                tracing::warn!(error = %error, "reading committed event numbers; subscribers catch up from PostgreSQL");
                return;
            }
        };
        let by_id: std::collections::HashMap<i64, i64> = numbers.into_iter().collect();
        let mut events: Vec<Change> = recorded
            .events
            .into_iter()
            .zip(recorded.ids)
            .filter_map(|(mut event, id)| {
                event.set_seq(*by_id.get(&id)?);
                Some(event)
            })
            .collect();
        events.sort_by_key(|e| (e.user_id(), e.seq()));
        // One message per member: each feed is its own channel.
        while !events.is_empty() {
            let user = events[0].user_id();
            let split = events
                .iter()
                .position(|e| e.user_id() != user)
                .unwrap_or(events.len());
            let rest = events.split_off(split);
            self.bus.publish(std::mem::replace(&mut events, rest));
        }
    }

    /// Deletes events older than the retention period.
    pub async fn prune(&self) -> Result<usize, EventError> {
        let cutoff = Utc::now()
            - chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::days(7));
        let mut conn = self.db.conn().await?;
        Ok(model::prune(&mut conn, cutoff).await?)
    }

    async fn fetch_after(&self, user: Uuid, seq: i64) -> Result<Vec<Change>, EventError> {
        let mut conn = self.db.conn().await?;
        model::after(&mut conn, user, seq, BATCH)
            .await?
            .into_iter()
            .map(Change::try_from)
            .collect()
    }

    /// Where a new subscription starts: after `after` (checked against the
    /// retention), or after the newest event.
    async fn start(&self, user: Uuid, after: Option<&str>) -> Result<i64, EventError> {
        let after = feed::parse_after(after)?;
        let mut conn = self.db.conn().await?;
        let current = model::current_seq(&mut conn, user).await?;
        let Some(after) = after else {
            return Ok(current);
        };
        // The oldest retained event matters only when events were missed.
        let oldest = match after < current {
            true => model::oldest_seq(&mut conn, user).await?,
            false => None,
        };
        feed::check_cursor(after, current, oldest)?;
        Ok(after)
    }

    /// `user`'s newest feed position: where a subscription without a
    /// cursor starts (one that joins a shared run reads it for itself).
    pub async fn position(&self, user: Uuid) -> Result<i64, EventError> {
        let mut conn = self.db.conn().await?;
        Ok(model::current_seq(&mut conn, user).await?)
    }

    /// A page of the pull feed: up to `first` (default 100, at most 500)
    /// of `user`'s changes after `after` (from the oldest retained without
    /// it), oldest first, read in one statement ([`model::page`]) with one
    /// extra change that only tells whether more are waiting.
    pub async fn page(
        &self,
        user: Uuid,
        after: Option<&str>,
        first: Option<i64>,
    ) -> Result<FeedPage, EventError> {
        let size = PageSize::parse(first)?;
        let after = feed::parse_after(after)?;
        let mut conn = self.db.conn().await?;
        let page = model::page(&mut conn, user, after, size.get() + 1).await?;
        drop(conn);
        if let Some(after) = after {
            feed::check_cursor(after, page.current, page.oldest)?;
        }
        let changes = page
            .rows
            .into_iter()
            .map(Change::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FeedPage::new(changes, size, after, page.current))
    }

    /// Every event of `user` after `after` (or from now), exactly once and
    /// in order. Ends with `SlowConsumer` when the subscriber cannot keep
    /// up with its bounded buffer.
    pub async fn subscribe(
        &self,
        user: Uuid,
        after: Option<&str>,
    ) -> Result<impl Stream<Item = Result<Arc<Change>, EventError>> + use<>, EventError> {
        // Listen before reading the start point, so nothing committed in
        // between is missed (duplicates are dropped by sequence number).
        let mut live = self.bus.subscribe(user);
        let mut last = self.start(user, after).await?;
        crate::stream_tap::record_start(last);
        // A shared run's subscribers count their own deliveries.
        let count = !crate::stream_tap::is_set();
        let this = self.clone();
        Ok(async_stream::try_stream! {
            // Replay what the cursor missed.
            loop {
                let batch = this.fetch_after(user, last).await?;
                let full = batch.len() as i64 == BATCH;
                for event in batch {
                    last = event.seq();
                    if count {
                        this.metrics.event_delivered(None);
                    }
                    yield Arc::new(event);
                }
                if !full {
                    break;
                }
            }
            loop {
                let gap = match live.recv().await {
                    Ok(BusMessage::Events(events)) => {
                        let mut gap = false;
                        for event in events.iter() {
                            if event.seq() <= last {
                                continue;
                            }
                            if event.seq() != last + 1 {
                                // A jump: messages were lost; PostgreSQL has them.
                                gap = true;
                                break;
                            }
                            last = event.seq();
                            // Live: the time since the change committed.
                            if count {
                                let lag = (Utc::now() - event.occurred_at()).to_std().ok();
                                this.metrics.event_delivered(lag);
                            }
                            yield Arc::new(event.clone());
                        }
                        gap
                    }
                    Ok(BusMessage::Resync) => true,
                    Err(RecvError::Lagged(_)) => {
                        Err(EventError::SlowConsumer {
                            cursor: cursor::encode(last),
                        })?;
                        false
                    }
                    Err(RecvError::Closed) => break,
                };
                if gap {
                    loop {
                        let batch = this.fetch_after(user, last).await?;
                        let full = batch.len() as i64 == BATCH;
                        for event in batch {
                            last = event.seq();
                            if count {
                                this.metrics.event_delivered(None);
                            }
                            yield Arc::new(event);
                        }
                        if !full {
                            break;
                        }
                    }
                }
            }
        })
    }
}
