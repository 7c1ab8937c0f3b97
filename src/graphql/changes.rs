//! The types of the `changes` feed: `TodoEvent`, `ListEvent`, the
//! `Change` union and the pull feed's `ChangePage`. They refer to `Todo`
//! and `TodoList`, so they live in the wiring layer; `events::graphql`
//! streams them and pages them.
//!
//! Tombstones: a `DELETED` todo event shows no todo and an
//! `ACCESS_REVOKED` list event no list, whatever the stored row holds, so
//! a deleted (or trashed) todo and a list the caller left are never
//! revealed through the feed.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Union};
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use uuid::Uuid;

use super::{
    context::viewer,
    objects::{TodoListObject, TodoObject},
};
use crate::{
    auth::loader::UserDataLoader,
    error::{ErrorCode, coded, log_internal},
    events::{
        EventKind, TodoEvent,
        feed::FeedPage,
        service::{Change, ListAction, ListEvent},
    },
    lists::{
        loader::ListDataLoader,
        model::{ListRow, MemberRow},
    },
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
    async fn todo(&self) -> Option<Box<TodoObject>> {
        // A tombstone: only the id and the list, even if a snapshot was
        // stored with the deletion (the trash keeps the todo, not the feed).
        if self.event.kind == EventKind::Deleted {
            return None;
        }
        // Boxed: held while its fields resolve, it would enlarge every
        // field's box of this type (`super::objects`' notes).
        self.event
            .snapshot
            .as_deref()
            .cloned()
            .map(|snapshot| Box::new(TodoObject(snapshot.into())))
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
    async fn list(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Box<TodoListObject>>> {
        let Some(s) = &self.1.snapshot else {
            return Ok(None);
        };
        if self.1.action == ListAction::Revoked {
            return Ok(None);
        }
        // Boxed, as `Todo.list` (`super::objects`' notes).
        let user = viewer(ctx).boxed().await?;
        Ok(Some(Box::new(TodoListObject {
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
            todos_ahead: Default::default(),
        })))
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

impl From<Arc<Change>> for ChangeObject {
    fn from(change: Arc<Change>) -> Self {
        match &*change {
            Change::Todo(event) => {
                let event = event.clone();
                Self::TodoEvent(TodoEventObject { change, event })
            }
            Change::List(event) => {
                let event = event.clone();
                Self::ListEvent(ListEventObject(change, event))
            }
        }
    }
}

/// A page of the pull feed (`Query.changes`).
pub struct ChangePageObject(pub FeedPage);

#[Object(name = "ChangePage")]
impl ChangePageObject {
    async fn changes(&self) -> Vec<ChangeObject> {
        self.0
            .changes
            .iter()
            .map(|change| ChangeObject::from(Arc::new(change.clone())))
            .collect()
    }

    /// Pass as `after` next time (also valid for todoEvents/changes subscriptions).
    async fn cursor(&self) -> &str {
        &self.0.cursor
    }

    /// More changes are waiting right now.
    async fn has_more(&self) -> bool {
        self.0.has_more
    }
}

/// Loads, in one batch each, what a page's changes will ask the request's
/// DataLoaders for when the selection asks for it: the todos' lists (the
/// caller's memberships) and creators, the lists' owners and members. Left
/// to each change, 500 changes could be cut into several batches by the
/// DataLoader's delay window (see `context::prefetch`).
pub async fn prefetch_page(
    ctx: &Context<'_>,
    viewer: Uuid,
    changes: &[Change],
) -> async_graphql::Result<()> {
    let look = ctx.look_ahead().field("changes");
    let (todo, list) = (look.field("todo"), look.field("list"));
    let internal = |e: &(dyn std::error::Error + Send + Sync + 'static)| {
        log_internal(e);
        coded(ErrorCode::InternalServerError, "Internal server error")
    };
    let shown_todos = || {
        changes.iter().filter_map(|c| match c {
            Change::Todo(e) if e.kind != EventKind::Deleted => e.snapshot.as_ref().map(|_| e),
            _ => None,
        })
    };
    let shown_lists = || {
        changes.iter().filter_map(|c| match c {
            Change::List(e) if e.action != ListAction::Revoked => e.snapshot.as_ref(),
            _ => None,
        })
    };
    let loader = ctx.data::<ListDataLoader>()?;
    if todo.field("list").exists() {
        let mut keys: Vec<(Uuid, Uuid)> = shown_todos().map(|e| (viewer, e.list_id)).collect();
        keys.sort_unstable();
        keys.dedup();
        loader
            .load_many(keys)
            .await
            .map_err(|e| internal(e.as_ref()))?;
    }
    if list.field("members").exists() {
        let mut keys: Vec<Uuid> = shown_lists().map(|s| s.id).collect();
        keys.sort_unstable();
        keys.dedup();
        let _: std::collections::HashMap<Uuid, _> = loader
            .load_many(keys)
            .await
            .map_err(|e| internal(e.as_ref()))?;
    }
    let mut users: Vec<Uuid> = Vec::new();
    if todo.field("owner").exists() || todo.field("createdBy").exists() {
        users.extend(shown_todos().filter_map(|e| e.snapshot.as_ref().map(|s| s.owner_id())));
    }
    if list.field("owner").exists() {
        users.extend(shown_lists().map(|s| s.owner_id));
    }
    if !users.is_empty() {
        users.sort_unstable();
        users.dedup();
        ctx.data::<UserDataLoader>()?
            .load_many(users)
            .await
            .map_err(|e| internal(e.as_ref()))?;
    }
    Ok(())
}
