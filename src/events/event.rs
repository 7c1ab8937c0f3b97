//! The event types: what happened to a todo, as stored in `todo_events`,
//! published on the bus and delivered to subscribers. Its own file so that
//! the bus and the service both depend on it, and not on each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{EventError, cursor, model::EventRow};
use crate::todos::model::TodoRow;

/// What happened to a todo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// Created.
    Created,
    /// Changed.
    Updated,
    /// Deleted.
    Deleted,
}

impl EventKind {
    /// The name stored in `todo_events.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Updated => "UPDATED",
            Self::Deleted => "DELETED",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "CREATED" => Self::Created,
            "DELETED" => Self::Deleted,
            _ => Self::Updated,
        }
    }
}

/// A committed change to a todo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TodoEvent {
    /// The todo's owner.
    pub user_id: Uuid,
    /// Per-user sequence number, strictly increasing in commit order.
    pub seq: i64,
    /// What happened.
    pub kind: EventKind,
    /// The todo.
    pub todo_id: Uuid,
    /// The todo right after the change; `None` for deletions.
    pub snapshot: Option<TodoSnapshot>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

impl TodoEvent {
    /// The cursor to resume after this event.
    pub fn cursor(&self) -> String {
        cursor::encode(self.seq)
    }
}

/// A todo as stored in an event (every column, owner included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoSnapshot {
    id: Uuid,
    owner_id: Uuid,
    title: String,
    description: Option<String>,
    completed: bool,
    due_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i32,
}

impl From<&TodoRow> for TodoSnapshot {
    fn from(r: &TodoRow) -> Self {
        Self {
            id: r.id,
            owner_id: r.owner_id,
            title: r.title.clone(),
            description: r.description.clone(),
            completed: r.completed,
            due_at: r.due_at,
            completed_at: r.completed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

impl From<TodoSnapshot> for TodoRow {
    fn from(s: TodoSnapshot) -> Self {
        Self {
            id: s.id,
            owner_id: s.owner_id,
            title: s.title,
            description: s.description,
            completed: s.completed,
            due_at: s.due_at,
            completed_at: s.completed_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
        }
    }
}

impl TryFrom<EventRow> for TodoEvent {
    type Error = EventError;

    fn try_from(row: EventRow) -> Result<Self, EventError> {
        let snapshot = row
            .snapshot
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| {
                EventError::Db(crate::db::DbError::Query(
                    diesel::result::Error::DeserializationError(Box::new(e)),
                ))
            })?;
        Ok(Self {
            user_id: row.user_id,
            seq: row.seq,
            kind: EventKind::parse(&row.kind),
            todo_id: row.todo_id,
            snapshot,
            occurred_at: row.occurred_at,
        })
    }
}
