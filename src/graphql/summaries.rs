//! Output types that refer to no other object type, shared by the ones of
//! [`super::objects`]: Relay's `PageInfo` and a list's `TodoCounts`.

use async_graphql::{Context, SimpleObject};
use uuid::Uuid;

use crate::{error::GqlResultExt, todos::TodoService};

/// Relay page information.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether items precede the page.
    pub has_previous_page: bool,
    /// Whether items follow the page.
    pub has_next_page: bool,
    /// The first item's cursor.
    pub start_cursor: Option<String>,
    /// The last item's cursor.
    pub end_cursor: Option<String>,
}

/// A user's todo counts.
#[derive(SimpleObject)]
pub struct TodoCounts {
    total: i32,
    active: i32,
    completed: i32,
}

impl TodoCounts {
    /// Loads the counts of `list` as `viewer` reads it at data `version`.
    pub async fn load(
        ctx: &Context<'_>,
        viewer: Uuid,
        version: i64,
        list: Uuid,
    ) -> async_graphql::Result<Self> {
        let c = ctx
            .data::<TodoService>()?
            .counts(viewer, version, list)
            .await
            .gql()?;
        let int = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(Self {
            total: int(c.total),
            active: int(c.active),
            completed: int(c.completed),
        })
    }
}
