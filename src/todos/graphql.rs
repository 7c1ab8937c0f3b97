//! GraphQL resolvers for todos: `todo`, `todos` and the todo mutations,
//! with their inputs. The `Todo` type, its connection and the list inputs
//! live with `User` in `graphql::objects` (they refer to each other).

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    TodoError, TodoService,
    domain::{NewTodo, RawTodoPatch, TodoPatch, parse_id},
};
use crate::{
    auth::loader::UserDataLoader,
    error::GqlResultExt,
    graphql::{
        context::viewer,
        objects::{TodoConnection, TodoFilterInput, TodoObject, TodoOrderInput, todo_connection},
    },
};

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
