//! The `todoEvents` subscription and the `TodoEvent` type.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::{EventKind, EventService, TodoEvent};
use crate::{
    error::GqlResultExt,
    graphql::{context::viewer, objects::TodoObject},
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

/// A change to one of the caller's todos.
pub struct TodoEventObject(pub Arc<TodoEvent>);

#[Object(name = "TodoEvent")]
impl TodoEventObject {
    /// Pass as todoEvents(after:) to resume after this event.
    async fn cursor(&self) -> String {
        self.0.cursor()
    }

    async fn kind(&self) -> TodoEventKindObject {
        match self.0.kind {
            EventKind::Created => TodoEventKindObject::Created,
            EventKind::Updated => TodoEventKindObject::Updated,
            EventKind::Deleted => TodoEventKindObject::Deleted,
        }
    }

    async fn todo_id(&self) -> ID {
        ID(self.0.todo_id.to_string())
    }

    /// A snapshot of the todo as it stood right after this change; null for DELETED.
    async fn todo(&self) -> Option<TodoObject> {
        self.0
            .snapshot
            .clone()
            .map(|snapshot| TodoObject(snapshot.into()))
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
}

/// The subscription root.
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every change to the caller's todos, from any server instance, in commit order.
    /// With `after` (a cursor from an earlier event), the retained events after it are
    /// replayed first, then live events follow, with no gap and no duplicate.
    async fn todo_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TodoEventObject>> + use<>>
    {
        let user = viewer(ctx).await?;
        let events = ctx.data::<EventService>()?;
        let stream = events.subscribe(user.id, after.as_deref()).await.gql()?;
        Ok(stream.map(|item| item.map(TodoEventObject).gql()))
    }
}
