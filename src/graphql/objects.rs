//! The GraphQL object types that cross features: `User` (an account, with
//! its todos) and `Todo` (with its owner), and the todo connection and
//! inputs they share. They refer to each other, so they live together here,
//! in the wiring layer; the features' GraphQL layers (`auth::graphql`,
//! `todos::graphql`, `events::graphql`) return them.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::context::{load_user, viewer};
use crate::{
    auth::model::User,
    error::{ErrorCode, GqlResultExt, coded},
    todos::{
        TodoError, TodoService,
        domain::{PageRequest, TodoFilter, TodoOrder},
        model::TodoRow,
        service::Page,
    },
};

/// An account.
pub struct UserObject {
    user: User,
    /// Known to be the caller (from `me` or a sign-in payload), so no
    /// further check is needed to walk into their todos.
    is_caller: bool,
}

impl UserObject {
    /// The caller themselves.
    pub fn caller(user: User) -> Self {
        Self {
            user,
            is_caller: true,
        }
    }

    /// A user reached through an edge (e.g. `Todo.owner`); walking into
    /// their todos requires them to be the caller.
    pub fn reached(user: User) -> Self {
        Self {
            user,
            is_caller: false,
        }
    }
}

#[Object(name = "User")]
impl UserObject {
    async fn id(&self) -> ID {
        ID(self.user.id.to_string())
    }

    async fn email(&self) -> &str {
        &self.user.email
    }

    async fn display_name(&self) -> Option<&str> {
        self.user.display_name.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.user.created_at
    }

    /// True once the owner of the address proved it (verifyEmail).
    async fn email_verified(&self) -> bool {
        self.user.email_verified()
    }

    /// How many todos the user has, by state.
    async fn todo_counts(&self, ctx: &Context<'_>) -> async_graphql::Result<TodoCounts> {
        self.authorize(ctx).await?;
        TodoCounts::load(ctx, self.user.id, self.version(ctx).await?).await
    }

    /// The user's todos as a cursor connection: `first` defaults to 20 and
    /// may not exceed 100.
    #[graphql(complexity = "2 + first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn todos(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<TodoFilterInput>,
        #[graphql(default_with = "Some(TodoOrderInput::CreatedAtDesc)")] order_by: Option<
            TodoOrderInput,
        >,
    ) -> async_graphql::Result<TodoConnection> {
        self.authorize(ctx).await?;
        let version = self.version(ctx).await?;
        todo_connection(ctx, self.user.id, version, first, after, filter, order_by).await
    }
}

impl UserObject {
    /// The user's current data version. A user object from a sign-in
    /// payload or `me` may predate a mutation earlier in the same request,
    /// so it is read through the request's loader (cleared by writes).
    async fn version(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(load_user(ctx, self.user.id).await?.event_seq)
    }

    /// Only the user themselves may walk into their todos.
    async fn authorize(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        if self.is_caller || viewer(ctx).await?.id == self.user.id {
            Ok(())
        } else {
            Err(coded(ErrorCode::Forbidden, "not your account"))
        }
    }
}

/// A todo.
pub struct TodoObject(pub TodoRow);

#[Object(name = "Todo")]
impl TodoObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// 1 to 500 characters, trimmed.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// At most 10,000 characters.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn completed(&self) -> bool {
        self.0.completed
    }

    async fn due_at(&self) -> Option<DateTime<Utc>> {
        self.0.due_at
    }

    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Increases by one on every change; pass it as expectedVersion to update safely.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// Batched per request: a page of todos costs one user query at most.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<UserObject> {
        Ok(UserObject::reached(load_user(ctx, self.0.owner_id).await?))
    }
}

/// The orders of a todo list.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(name = "TodoOrder", remote = "TodoOrder")]
pub enum TodoOrderInput {
    /// Newest first.
    #[default]
    CreatedAtDesc,
    /// Oldest first.
    CreatedAtAsc,
    /// Soonest due first; todos without a due time last.
    DueAtAsc,
    /// Most recently changed first.
    UpdatedAtDesc,
}

/// Which todos a list includes.
#[derive(InputObject, Default)]
#[graphql(name = "TodoFilter")]
pub struct TodoFilterInput {
    /// Only completed (true) or active (false) todos.
    pub completed: Option<bool>,
    /// Case-insensitive match on title and description.
    pub search: Option<String>,
    /// Due strictly before this time.
    pub due_before: Option<DateTime<Utc>>,
    /// Due strictly after this time.
    pub due_after: Option<DateTime<Utc>>,
}

impl TodoFilterInput {
    fn parse(self) -> Result<TodoFilter, TodoError> {
        TodoFilter::parse(
            self.completed,
            self.search.as_deref(),
            self.due_before,
            self.due_after,
        )
    }
}

/// A page of todos (Relay cursor connection).
pub struct TodoConnection {
    owner: Uuid,
    version: i64,
    filter: TodoFilter,
    page: Page,
}

/// An edge of [`TodoConnection`].
#[derive(SimpleObject)]
#[graphql(name = "TodoEdge")]
pub struct TodoEdge {
    cursor: String,
    node: TodoObject,
}

/// Relay page information.
#[derive(SimpleObject)]
pub struct PageInfo {
    has_previous_page: bool,
    has_next_page: bool,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

#[Object]
impl TodoConnection {
    async fn edges(&self) -> Vec<TodoEdge> {
        let order = self.page.order;
        self.page
            .rows
            .iter()
            .map(|row| TodoEdge {
                cursor: row.cursor(order).encode(),
                node: TodoObject(row.clone()),
            })
            .collect()
    }

    async fn nodes(&self) -> Vec<TodoObject> {
        self.page.rows.iter().cloned().map(TodoObject).collect()
    }

    async fn page_info(&self) -> PageInfo {
        let order = self.page.order;
        PageInfo {
            has_previous_page: self.page.has_previous_page,
            has_next_page: self.page.has_next_page,
            start_cursor: self.page.rows.first().map(|r| r.cursor(order).encode()),
            end_cursor: self.page.rows.last().map(|r| r.cursor(order).encode()),
        }
    }

    /// How many todos match the filter, across all pages (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let n = match self.page.total {
            Some(n) => n,
            None => ctx
                .data::<TodoService>()?
                .count(self.owner, self.version, &self.filter)
                .await
                .gql()?,
        };
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// Resolves a todo connection of `owner` at data `version` (shared by
/// `Query.todos` and `User.todos`).
pub async fn todo_connection(
    ctx: &Context<'_>,
    owner: Uuid,
    version: i64,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<TodoFilterInput>,
    order_by: Option<TodoOrderInput>,
) -> async_graphql::Result<TodoConnection> {
    let order = order_by.map(TodoOrder::from).unwrap_or_default();
    let page = PageRequest::parse(first.map(i64::from), after.as_deref(), order).gql()?;
    let filter = filter.unwrap_or_default().parse().gql()?;
    let todos = ctx.data::<TodoService>()?;
    // Fetched with the page when selected: one cache entry for both.
    let with_total = ctx.look_ahead().field("totalCount").exists();
    let page = todos
        .list(owner, version, &filter, &page, with_total)
        .await
        .gql()?;
    Ok(TodoConnection {
        owner,
        version,
        filter,
        page,
    })
}

/// A user's todo counts.
#[derive(SimpleObject)]
pub struct TodoCounts {
    total: i32,
    active: i32,
    completed: i32,
}

impl TodoCounts {
    /// Loads `owner`'s counts at data `version`.
    pub async fn load(ctx: &Context<'_>, owner: Uuid, version: i64) -> async_graphql::Result<Self> {
        let c = ctx
            .data::<TodoService>()?
            .counts(owner, version)
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
