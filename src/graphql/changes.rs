//! The types of the `changes` feed: `TodoEvent`, `ListEvent` and the
//! `Change` union. They refer to `Todo` and `TodoList`, so they live in the
//! wiring layer; `events::graphql` streams them.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Union};
use chrono::{DateTime, Utc};

use super::{
    context::viewer,
    objects::{TodoListObject, TodoObject},
};
use crate::{
    events::{
        EventKind, TodoEvent,
        service::{Change, ListAction, ListEvent},
    },
    lists::model::{ListRow, MemberRow},
};

/// What happened to a todo.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "TodoEventKind")]
pub enum TodoEventKindObject {
    /// Created.
    Created,
    /// Changed.
    Updated,
    /// Deleted.
    Deleted,
}

/// A change to a todo of one of the caller's lists (`kind` as the stream
/// that carries it sees it).
pub struct TodoEventObject {
    /// The change as stored (its cursor).
    pub change: Arc<Change>,
    /// The event as the stream shows it.
    pub event: TodoEvent,
}

#[Object(name = "TodoEvent")]
impl TodoEventObject {
    /// Pass as todoEvents(after:) to resume after this event.
    async fn cursor(&self) -> String {
        self.change.cursor()
    }

    async fn kind(&self) -> TodoEventKindObject {
        match self.event.kind {
            EventKind::Created => TodoEventKindObject::Created,
            EventKind::Updated => TodoEventKindObject::Updated,
            EventKind::Deleted => TodoEventKindObject::Deleted,
        }
    }

    async fn todo_id(&self) -> ID {
        ID(self.event.todo_id.to_string())
    }

    /// A snapshot of the todo as it stood right after this change; null for DELETED.
    async fn todo(&self) -> Option<TodoObject> {
        self.event
            .snapshot
            .clone()
            .map(|snapshot| TodoObject(snapshot.into()))
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.event.occurred_at
    }

    async fn list_id(&self) -> ID {
        ID(self.event.list_id.to_string())
    }
}

/// What happened to a list.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ListEventKind")]
pub enum ListEventKindObject {
    /// A list was created, or the caller was granted access (list present).
    AccessGranted,
    /// Renamed, moved, a member joined, left or changed role (list present).
    Updated,
    /// The list was deleted, or the caller lost access to it (list null).
    AccessRevoked,
}

/// A change to a list, in the caller's feed.
pub struct ListEventObject(
    pub std::sync::Arc<crate::events::service::Change>,
    pub ListEvent,
);

#[Object(name = "ListEvent")]
impl ListEventObject {
    /// The same cursor space as TodoEvent.cursor.
    async fn cursor(&self) -> String {
        self.0.cursor()
    }

    /// Named `action`, not `kind`, so that one selection can ask for both.
    async fn action(&self) -> ListEventKindObject {
        match self.1.action {
            ListAction::Granted => ListEventKindObject::AccessGranted,
            ListAction::Updated => ListEventKindObject::Updated,
            ListAction::Revoked => ListEventKindObject::AccessRevoked,
        }
    }

    async fn list_id(&self) -> ID {
        ID(self.1.list_id.to_string())
    }

    /// The list as it stood right after this change; null for `ACCESS_REVOKED`.
    async fn list(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TodoListObject>> {
        let Some(s) = &self.1.snapshot else {
            return Ok(None);
        };
        let user = viewer(ctx).await?;
        Ok(Some(TodoListObject {
            is_default: s.id == user.default_list_id,
            list: ListRow {
                id: s.id,
                name: s.name.clone(),
                owner_id: s.owner_id,
                version: s.version,
                created_at: s.created_at,
                updated_at: s.updated_at,
            },
            member: MemberRow {
                list_id: s.id,
                user_id: self.1.user_id,
                role: s.role.clone(),
                position: s.position.clone(),
                joined_at: s.created_at,
            },
        }))
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.1.occurred_at
    }
}

/// Anything in the caller's feed.
#[derive(Union)]
#[graphql(name = "Change")]
pub enum ChangeObject {
    /// A todo changed.
    TodoEvent(TodoEventObject),
    /// A list changed.
    ListEvent(ListEventObject),
}
