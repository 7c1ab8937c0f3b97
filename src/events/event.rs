//! The event types: what happened to a todo or a list, as stored in
//! `todo_events` (one row per member who sees it), published on the bus and
//! delivered to subscribers ([`Change`]). Its own file so that the bus and
//! the service both depend on it, and not on each other.

use std::sync::Arc;

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

/// A committed change to a todo, as one member of its list sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TodoEvent {
    /// The member whose feed it is in.
    pub user_id: Uuid,
    /// Per-user sequence number, strictly increasing in commit order.
    pub seq: i64,
    /// What happened.
    pub kind: EventKind,
    /// The todo.
    pub todo_id: Uuid,
    /// The todo right after the change; `None` for deletions. Shared: a
    /// change to a list gives every member an event with the same one.
    pub snapshot: Option<Arc<TodoSnapshot>>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The list the todo is in (for `DELETED`: the list it was in).
    pub list_id: Uuid,
    /// For a move between two lists the member sees (`UPDATED`): the list
    /// it left.
    #[serde(default)]
    pub from_list_id: Option<Uuid>,
}

impl TodoEvent {
    /// The cursor to resume after this event.
    pub fn cursor(&self) -> String {
        cursor::encode(self.seq)
    }
}

/// A todo as stored in an event and in the read cache (every column,
/// owner included). Events written before lists existed lack `list_id` and
/// `position`; reading one fills them in from the event row.
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
    #[serde(default)]
    list_id: Option<Uuid>,
    #[serde(default)]
    position: Option<String>,
}

impl TodoSnapshot {
    /// The todo's creator.
    pub fn owner_id(&self) -> Uuid {
        self.owner_id
    }
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
            list_id: Some(r.list_id),
            position: Some(r.position.clone()),
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
            list_id: s.list_id.unwrap_or_default(),
            // The first key of the fractional-indexing order: what the
            // lists migration gave each user's newest todo.
            position: s.position.unwrap_or_else(|| "a0".to_owned()),
            // Snapshots are of live todos (events and cached reads).
            deleted_at: None,
        }
    }
}

/// What happened to a list, from one member's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ListAction {
    /// Created, or the member was granted access.
    Granted,
    /// Renamed, moved in the member's sidebar, or its members changed.
    Updated,
    /// Deleted, or the member lost access.
    Revoked,
}

impl ListAction {
    /// The name stored in `todo_events.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "LIST_GRANTED",
            Self::Updated => "LIST_UPDATED",
            Self::Revoked => "LIST_REVOKED",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "LIST_GRANTED" => Some(Self::Granted),
            "LIST_UPDATED" => Some(Self::Updated),
            "LIST_REVOKED" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// A list as one member saw it right after a change (the member's role
/// and sidebar position included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSnapshot {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// The OWNER.
    pub owner_id: Uuid,
    /// The member's role (`OWNER`, `EDITOR`, `VIEWER`).
    pub role: String,
    /// The member's sidebar position.
    pub position: String,
    /// The list's version.
    pub version: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A committed change to a list, in one member's feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListEvent {
    /// The member whose feed it is in.
    pub user_id: Uuid,
    /// Per-user sequence number (the same sequence as todo events).
    pub seq: i64,
    /// What happened.
    pub action: ListAction,
    /// The list.
    pub list_id: Uuid,
    /// The list right after the change; `None` for `Revoked`.
    pub snapshot: Option<ListSnapshot>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

/// Anything in a user's feed, in one order under one cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Change {
    /// A todo changed.
    Todo(TodoEvent),
    /// A list changed.
    List(ListEvent),
}

impl Change {
    /// The member whose feed it is in.
    pub fn user_id(&self) -> Uuid {
        match self {
            Self::Todo(e) => e.user_id,
            Self::List(e) => e.user_id,
        }
    }

    /// Its sequence number.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Todo(e) => e.seq,
            Self::List(e) => e.seq,
        }
    }

    /// Sets the sequence number the commit gave it.
    pub fn set_seq(&mut self, seq: i64) {
        match self {
            Self::Todo(e) => e.seq = seq,
            Self::List(e) => e.seq = seq,
        }
    }

    /// When it happened.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::Todo(e) => e.occurred_at,
            Self::List(e) => e.occurred_at,
        }
    }

    /// The cursor to resume after it.
    pub fn cursor(&self) -> String {
        cursor::encode(self.seq())
    }
}

fn decode_error(e: serde_json::Error) -> EventError {
    EventError::Db(crate::db::DbError::Query(
        diesel::result::Error::DeserializationError(Box::new(e)),
    ))
}

impl TryFrom<EventRow> for Change {
    type Error = EventError;

    fn try_from(row: EventRow) -> Result<Self, EventError> {
        if let Some(action) = ListAction::parse(&row.kind) {
            let snapshot = row
                .snapshot
                .map(serde_json::from_value)
                .transpose()
                .map_err(decode_error)?;
            return Ok(Self::List(ListEvent {
                user_id: row.user_id,
                seq: row.seq,
                action,
                list_id: row.list_id,
                snapshot,
                occurred_at: row.occurred_at,
            }));
        }
        let snapshot = row
            .snapshot
            .map(serde_json::from_value::<TodoSnapshot>)
            .transpose()
            .map_err(decode_error)?
            .map(|mut s| {
                // Written before lists: the migration gave the row its list.
                s.list_id.get_or_insert(row.list_id);
                Arc::new(s)
            });
        Ok(Self::Todo(TodoEvent {
            user_id: row.user_id,
            seq: row.seq,
            kind: EventKind::parse(&row.kind),
            todo_id: row.todo_id.unwrap_or_default(),
            snapshot,
            occurred_at: row.occurred_at,
            list_id: row.list_id,
            from_list_id: row.from_list_id,
        }))
    }
}
