//! The subscriptions (`todoEvents`, `changes`) and the pull feed
//! (`Query.changes`).
//! Both read the caller's one feed (every change to every list the caller
//! is a member of, under one cursor) and keep what they carry:
//! `changes` everything, `todoEvents(allLists: true)` every todo event,
//! plain `todoEvents` the default list's todo events as a list-unaware
//! client expects them (a todo moved out of it is DELETED, one moved in
//! CREATED). Events a stream does not carry are skipped, never reported
//! as a gap, so a cursor of either resumes either. The pull feed pages the
//! same feed with the same cursors: a page's cursor opens a subscription
//! that misses nothing.

use async_graphql::{Context, Object, Subscription};
use futures_util::{Stream, StreamExt};
use uuid::Uuid;

use super::{EventKind, EventService, TodoEvent, service::Change};
use crate::{
    error::GqlResultExt,
    graphql::{
        changes::{ChangeObject, ChangePageObject, TodoEventObject, prefetch_page},
        context::{Loaders, viewer},
    },
};

/// The todo event as plain `todoEvents` shows it to a client that knows
/// only the default list `default`: `None` when it concerns no todo of it.
fn as_default_list_event(event: &TodoEvent, default: Uuid) -> Option<TodoEvent> {
    let inside = event.list_id == default;
    let from_inside = event.from_list_id.map(|from| from == default);
    let kind = match (inside, from_inside) {
        (true, None | Some(true)) => event.kind,
        (true, Some(false)) => EventKind::Created,
        (false, Some(true)) => EventKind::Deleted,
        (false, None | Some(false)) => return None,
    };
    let mut shown = event.clone();
    shown.kind = kind;
    if kind == EventKind::Deleted {
        shown.snapshot = None;
        shown.list_id = default;
    }
    shown.from_list_id = None;
    Some(shown)
}

/// The subscription root.
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every change to the caller's todos, from any server instance, in commit order.
    /// With `after` (a cursor from an earlier event), the retained events after it are
    /// replayed first, then live events follow, with no gap and no duplicate.
    /// Without allLists, the default list's todos only.
    async fn todo_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        #[graphql(default = false)] all_lists: bool,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<TodoEventObject>> + use<>>
    {
        let user = viewer(ctx).await?;
        let default = user.default_list_id;
        let events = ctx.data::<EventService>()?;
        let stream = events.subscribe(user.id, after.as_deref()).await.gql()?;
        let loaders = Loaders::of(ctx);
        Ok(stream.filter_map(move |item| {
            loaders.clear();
            let shown = match item {
                Err(e) => Some(Err(e).gql()),
                Ok(change) => match &*change {
                    Change::List(_) => None,
                    Change::Todo(event) => {
                        let event = match all_lists {
                            true => Some(event.clone()),
                            false => as_default_list_event(event, default),
                        };
                        event.map(|event| Ok(TodoEventObject { change, event }))
                    }
                },
            };
            // A shared run tags each result with its event (none for an error).
            if let Some(shown) = &shown {
                let item = shown
                    .as_ref()
                    .ok()
                    .map(|o| (o.change.seq(), o.change.occurred_at()));
                crate::stream_tap::record_item(item);
            }
            std::future::ready(shown)
        }))
    }

    /// Every todo and list change visible to the caller, in one order.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ChangeObject>> + use<>>
    {
        let user = viewer(ctx).await?;
        let events = ctx.data::<EventService>()?;
        let stream = events.subscribe(user.id, after.as_deref()).await.gql()?;
        // Each event's fields (a list's counts, members) read current data.
        let loaders = Loaders::of(ctx);
        Ok(stream.map(move |item| {
            loaders.clear();
            let tag = item.as_ref().ok().map(|c| (c.seq(), c.occurred_at()));
            crate::stream_tap::record_item(tag);
            item.map(ChangeObject::from).gql()
        }))
    }
}

/// The pull feed's query field.
#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// The caller's changes after a cursor, oldest first, at most `first` (default 100,
    /// at most 500). Without `after`: from the oldest change still kept. CURSOR_EXPIRED when
    /// the cursor is older than what is kept (7 days): the client starts over from a full read.
    /// first outside 1..500: BAD_USER_INPUT.
    // The words of the contract (`sync.graphql`), hence the lint.
    //
    // Complexity: a point per change plus the selection once, as the
    // `changes` subscription counts the same objects once per document
    // however many events it delivers. Counting the selection per change
    // (as `todos` does) would refuse an offline client's ordinary page:
    // a union selection of ~20 fields × 500 is the whole default limit.
    // The page's own cost does not grow with the selection: one statement
    // and one batch per DataLoader (`prefetch_page`).
    #[allow(clippy::doc_markdown)]
    #[graphql(complexity = "2 + first.unwrap_or(100).clamp(1, 500) as usize + child_complexity")]
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i32>,
    ) -> async_graphql::Result<ChangePageObject> {
        let user = viewer(ctx).await?;
        let page = ctx
            .data::<EventService>()?
            .page(user.id, after.as_deref(), first.map(i64::from))
            .await
            .gql()?;
        prefetch_page(ctx, user.id, &page.changes).await?;
        Ok(ChangePageObject(page))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn event(kind: EventKind, list: Uuid, from: Option<Uuid>) -> TodoEvent {
        TodoEvent {
            user_id: Uuid::nil(),
            seq: 1,
            kind,
            todo_id: Uuid::nil(),
            snapshot: None,
            occurred_at: Utc::now(),
            list_id: list,
            from_list_id: from,
        }
    }

    #[test]
    fn plain_todo_events_see_moves_across_the_default_list_as_create_and_delete() {
        let (d, other) = (Uuid::now_v7(), Uuid::now_v7());
        let kind = |e: &TodoEvent| as_default_list_event(e, d).map(|e| e.kind);
        assert_eq!(
            kind(&event(EventKind::Updated, d, None)),
            Some(EventKind::Updated)
        );
        assert_eq!(kind(&event(EventKind::Created, other, None)), None);
        assert_eq!(
            kind(&event(EventKind::Updated, other, Some(d))),
            Some(EventKind::Deleted)
        );
        assert_eq!(
            kind(&event(EventKind::Updated, d, Some(other))),
            Some(EventKind::Created)
        );
        assert_eq!(
            kind(&event(EventKind::Updated, other, Some(Uuid::now_v7()))),
            None
        );
        let out = as_default_list_event(&event(EventKind::Updated, other, Some(d)), d).unwrap();
        assert_eq!(out.list_id, d);
    }
}
