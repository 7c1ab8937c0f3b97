//! GraphQL types and resolvers for todos: `todo`, `todos`, the connection
//! types, and the todo mutations.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    TodoError, TodoService,
    domain::{NewTodo, PageRequest, RawTodoPatch, TodoFilter, TodoOrder, TodoPatch, parse_id},
    model::TodoRow,
    service::Page,
};
use crate::{
    auth::{graphql::UserObject, loader::UserDataLoader},
    error::GqlResultExt,
    graphql::context::{load_user, viewer},
};

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

/// After a write: the user rows this request loaded carry the old data
/// version, so later fields of the same request (`createTodo { owner {
/// todoCounts } }`, a second mutation) must load them again.
fn changed_data(ctx: &Context<'_>) {
    if let Ok(loader) = ctx.data::<UserDataLoader>() {
        loader.clear::<Uuid>();
    }
}

/// Input of `createTodo`.
#[derive(InputObject)]
pub struct CreateTodoInput {
    /// 1 to 500 characters, trimmed.
    pub title: String,
    /// At most 10,000 characters.
    pub description: Option<String>,
    /// When it is due.
    pub due_at: Option<DateTime<Utc>>,
}

/// Input of `updateTodo`: absent fields are left as they are.
#[derive(InputObject)]
pub struct UpdateTodoInput {
    /// New title (not null).
    pub title: MaybeUndefined<String>,
    /// New description; null clears it.
    pub description: MaybeUndefined<String>,
    /// Completed or not (not null).
    pub completed: MaybeUndefined<bool>,
    /// New due time; null clears it.
    pub due_at: MaybeUndefined<DateTime<Utc>>,
    /// When given and not the todo's current version: CONFLICT, and nothing changes.
    pub expected_version: Option<i32>,
}

impl UpdateTodoInput {
    fn parse(self) -> Result<TodoPatch, TodoError> {
        TodoPatch::parse(RawTodoPatch {
            title: self.title.into(),
            description: self.description.into(),
            completed: self.completed.into(),
            due_at: self.due_at.into(),
            expected_version: self.expected_version,
        })
    }
}

/// Todo queries.
#[derive(Default)]
pub struct TodoQuery;

#[Object]
impl TodoQuery {
    /// One of the caller's todos; null when it does not exist or is not the caller's.
    async fn todo(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<TodoObject>> {
        let user = viewer(ctx).await?;
        let Ok(id) = parse_id(id.as_str()) else {
            return Ok(None);
        };
        match ctx.data::<TodoService>()?.get(user.id, id).await {
            Ok(row) => Ok(Some(TodoObject(row))),
            Err(TodoError::NotFound) => Ok(None),
            Err(e) => Err(e).gql(),
        }
    }

    /// The caller's todos as a cursor connection: first defaults to 20 and may not exceed 100.
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
        let user = viewer(ctx).await?;
        todo_connection(ctx, user.id, user.event_seq, first, after, filter, order_by).await
    }
}

/// Todo mutations.
#[derive(Default)]
pub struct TodoMutation;

#[Object]
impl TodoMutation {
    async fn create_todo(
        &self,
        ctx: &Context<'_>,
        input: CreateTodoInput,
    ) -> async_graphql::Result<TodoObject> {
        let user = viewer(ctx).await?;
        let todo =
            NewTodo::parse(&input.title, input.description.as_deref(), input.due_at).gql()?;
        let row = ctx
            .data::<TodoService>()?
            .create(user.id, todo)
            .await
            .gql()?;
        Ok(TodoObject(row))
    }

    /// Absent fields are left as they are; an explicit null clears description or dueAt.
    async fn update_todo(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateTodoInput,
    ) -> async_graphql::Result<TodoObject> {
        let user = viewer(ctx).await?;
        let id = parse_id(id.as_str()).gql()?;
        let patch = input.parse().gql()?;
        let row = ctx
            .data::<TodoService>()?
            .update(user.id, id, patch)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(TodoObject(row))
    }

    /// Returns the id of the deleted todo. NOT_FOUND when it is not the caller's.
    async fn delete_todo(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let user = viewer(ctx).await?;
        let id = parse_id(id.as_str()).gql()?;
        let deleted = ctx.data::<TodoService>()?.delete(user.id, id).await.gql()?;
        changed_data(ctx);
        Ok(ID(deleted.to_string()))
    }

    /// Marks every one of the caller's todos completed or active; returns how many changed.
    async fn toggle_all_todos(
        &self,
        ctx: &Context<'_>,
        completed: bool,
    ) -> async_graphql::Result<i32> {
        let user = viewer(ctx).await?;
        let n = ctx
            .data::<TodoService>()?
            .set_all_completed(user.id, completed)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// Deletes the caller's completed todos; returns how many were deleted.
    async fn clear_completed_todos(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let user = viewer(ctx).await?;
        let n = ctx
            .data::<TodoService>()?
            .delete_many(user.id, true)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}
