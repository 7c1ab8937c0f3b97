//! Recording events inside the caller's transaction, and subscription
//! streams that deliver every event of a user exactly once, in order:
//! replay from PostgreSQL after a cursor, then live events from the bus,
//! de-duplicated by sequence number, with gaps (a lost pub/sub message, a
//! Redis outage) filled from PostgreSQL.

use std::{sync::Arc, time::Duration};

use chrono::{SubsecRound, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

pub use super::event::{EventKind, TodoEvent, TodoSnapshot};
use super::{
    EventError,
    bus::{BusMessage, EventBus},
    cursor,
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
    events: Vec<TodoEvent>,
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

/// Records one event per change, on the caller's connection and inside the
/// caller's transaction, so the events exist exactly when the change
/// committed. `deleted` rows get `DELETED` events without a snapshot.
///
/// No lock is taken here: the events get their per-user sequence numbers
/// at COMMIT, from a deferred trigger, so one user's concurrent writes do
/// not queue behind each other for the length of their transactions.
pub async fn record(
    conn: &mut Conn,
    user: Uuid,
    kind: EventKind,
    rows: &[TodoRow],
) -> diesel::QueryResult<Recorded> {
    if rows.is_empty() {
        return Ok(Recorded::default());
    }
    // At the database's precision, so live and replayed events are equal.
    let occurred_at = Utc::now().trunc_subsecs(6);
    let events: Vec<TodoEvent> = rows
        .iter()
        .map(|row| TodoEvent {
            user_id: user,
            seq: 0,
            kind,
            todo_id: row.id,
            snapshot: (kind != EventKind::Deleted).then(|| TodoSnapshot::from(row)),
            occurred_at,
        })
        .collect();
    let snapshots: Vec<Option<serde_json::Value>> = events
        .iter()
        .map(|e| {
            e.snapshot
                .as_ref()
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
        })
        .collect::<Result<_, _>>()?;
    let new: Vec<NewEvent<'_>> = events
        .iter()
        .zip(snapshots)
        .map(|(e, snapshot)| NewEvent {
            user_id: e.user_id,
            kind: e.kind.as_str(),
            todo_id: e.todo_id,
            snapshot,
            occurred_at: e.occurred_at,
        })
        .collect();
    let ids = model::insert(conn, &new).await?;
    Ok(Recorded { events, ids })
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
        let numbers = match numbers {
            Ok(numbers) => numbers,
            Err(error) => {
                tracing::warn!(error = %error, "reading committed event numbers; subscribers catch up from PostgreSQL");
                return;
            }
        };
        let by_id: std::collections::HashMap<i64, i64> = numbers.into_iter().collect();
        let mut events: Vec<TodoEvent> = recorded
            .events
            .into_iter()
            .zip(recorded.ids)
            .filter_map(|(mut event, id)| {
                event.seq = *by_id.get(&id)?;
                Some(event)
            })
            .collect();
        events.sort_by_key(|e| e.seq);
        self.bus.publish(events);
    }

    /// Deletes events older than the retention period.
    pub async fn prune(&self) -> Result<usize, EventError> {
        let cutoff = Utc::now()
            - chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::days(7));
        let mut conn = self.db.conn().await?;
        Ok(model::prune(&mut conn, cutoff).await?)
    }

    async fn fetch_after(&self, user: Uuid, seq: i64) -> Result<Vec<TodoEvent>, EventError> {
        let mut conn = self.db.conn().await?;
        model::after(&mut conn, user, seq, BATCH)
            .await?
            .into_iter()
            .map(TodoEvent::try_from)
            .collect()
    }

    /// Where a new subscription starts: after `after` (checked against the
    /// retention), or after the newest event.
    async fn start(&self, user: Uuid, after: Option<&str>) -> Result<i64, EventError> {
        let after = after
            .filter(|a| !a.is_empty())
            .map(cursor::decode)
            .transpose()?;
        let mut conn = self.db.conn().await?;
        let current = model::current_seq(&mut conn, user).await?;
        let Some(after) = after else {
            return Ok(current);
        };
        if after > current {
            return Err(EventError::InvalidCursor);
        }
        if after < current {
            let oldest = model::oldest_seq(&mut conn, user).await?;
            if oldest.is_none_or(|oldest| oldest > after + 1) {
                return Err(EventError::CursorExpired);
            }
        }
        Ok(after)
    }

    /// Every event of `user` after `after` (or from now), exactly once and
    /// in order. Ends with `SlowConsumer` when the subscriber cannot keep
    /// up with its bounded buffer.
    pub async fn subscribe(
        &self,
        user: Uuid,
        after: Option<&str>,
    ) -> Result<impl Stream<Item = Result<Arc<TodoEvent>, EventError>> + use<>, EventError> {
        // Listen before reading the start point, so nothing committed in
        // between is missed (duplicates are dropped by sequence number).
        let mut live = self.bus.subscribe(user);
        let mut last = self.start(user, after).await?;
        let this = self.clone();
        Ok(async_stream::try_stream! {
            // Replay what the cursor missed.
            loop {
                let batch = this.fetch_after(user, last).await?;
                let full = batch.len() as i64 == BATCH;
                for event in batch {
                    last = event.seq;
                    this.metrics.event_delivered(None);
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
                            if event.seq <= last {
                                continue;
                            }
                            if event.seq != last + 1 {
                                // A jump: messages were lost; PostgreSQL has them.
                                gap = true;
                                break;
                            }
                            last = event.seq;
                            // Live: the time since the change committed.
                            let lag = (Utc::now() - event.occurred_at).to_std().ok();
                            this.metrics.event_delivered(lag);
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
                            last = event.seq;
                            this.metrics.event_delivered(None);
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
