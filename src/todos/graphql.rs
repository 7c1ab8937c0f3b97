//! GraphQL resolvers for todos: `todo`, `todos` and the todo mutations,
//! with their inputs. The `Todo` type, its connection and the list inputs
//! live with `User` in `graphql::objects` (they refer to each other).

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    TodoError, TodoService,
    domain::{NewTodo, RawTodoPatch, TodoPatch, parse_id},
    service::MoveTodo,
};
use crate::{
    auth::{AuthService, model::User},
    error::GqlResultExt,
    graphql::{
        context::{caller_gone, changed_data, viewer, writer_id},
        objects::{TodoConnection, TodoFilterInput, TodoObject, TodoOrderInput},
        viewer_todos::viewer_todo_connection,
    },
};

mod trash;
pub use trash::{TrashMutation, TrashQuery};

/// The list a mutation names (`None`: the caller's default list).
fn target_list(user: &User, list_id: Option<&ID>) -> Result<Uuid, TodoError> {
    list_id.map_or(Ok(user.default_list_id), named_list)
}

/// The list `id` names. A malformed id names no list: `NOT_FOUND`.
fn named_list(id: &ID) -> Result<Uuid, TodoError> {
    Uuid::try_parse(id.as_str()).map_err(|_| TodoError::ListNotFound)
}

/// The result of a write by [`writer_id`]: what it found missing is first
/// checked against the caller's account ([`caller_gone`]).
async fn unless_gone<T>(
    ctx: &Context<'_>,
    result: Result<T, TodoError>,
) -> async_graphql::Result<T> {
    if matches!(result, Err(TodoError::NotFound | TodoError::ListNotFound)) {
        caller_gone(ctx).await?;
    }
    result.gql()
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
    /// A list of which the caller is OWNER or EDITOR; absent: the default list.
    pub list_id: Option<ID>,
    /// A UUID (version 4 or 7) chosen by the client. Repeated with equal fields: the existing
    /// todo, unchanged; with other fields, or someone else's id: CONFLICT.
    pub id: Option<ID>,
    /// A position key chosen by the client (the format of Todo.position); BAD_USER_INPUT when
    /// malformed; absent: first in the list.
    pub position: Option<String>,
}

/// Input of `moveTodo`.
#[derive(InputObject)]
pub struct MoveTodoInput {
    /// Another list of which the caller is OWNER or EDITOR; absent: the same list.
    pub list_id: Option<ID>,
    /// Place right after this todo of the target list.
    pub after_id: Option<ID>,
    /// Place right before this todo of the target list.
    pub before_id: Option<ID>,
    /// A position key chosen by the client; BAD_USER_INPUT when malformed.
    pub position: Option<String>,
    /// When given and not the todo's current version: CONFLICT, and nothing changes.
    pub expected_version: Option<i32>,
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
    /// Field-level merge: applies unless a field of this input changed after this version (then
    /// CONFLICT with extensions.current, the todo as it stands); together with expectedVersion:
    /// BAD_USER_INPUT.
    pub base_version: Option<i32>,
}

impl UpdateTodoInput {
    fn parse(self) -> Result<TodoPatch, TodoError> {
        TodoPatch::parse(RawTodoPatch {
            title: self.title.into(),
            description: self.description.into(),
            completed: self.completed.into(),
            due_at: self.due_at.into(),
            expected_version: self.expected_version,
            base_version: self.base_version,
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
        viewer_todo_connection(ctx, first, after, filter.unwrap_or_default(), order_by).await
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
        // The write's access check needs no caller's row (see `writer_id`);
        // the default list is on it, but remembered once read.
        let actor = writer_id(ctx).await?;
        let list = match input.list_id.as_ref() {
            Some(id) => named_list(id).gql()?,
            None => match ctx.data::<AuthService>()?.known_default_list(actor) {
                Some(list) => list,
                None => viewer(ctx).await?.default_list_id,
            },
        };
        let todo = NewTodo::parse(&input.title, input.description.as_deref(), input.due_at)
            .and_then(|t| t.with_id(input.id.as_ref().map(|i| i.as_str())))
            .and_then(|t| t.with_position(input.position.as_deref()))
            .gql()?;
        let created = ctx.data::<TodoService>()?.create(actor, list, todo).await;
        let row = unless_gone(ctx, created).await?;
        changed_data(ctx);
        Ok(TodoObject(row))
    }

    /// Absent fields are left as they are; an explicit null clears description or dueAt.
    async fn update_todo(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateTodoInput,
    ) -> async_graphql::Result<TodoObject> {
        let actor = writer_id(ctx).await?;
        let id = parse_id(id.as_str()).gql()?;
        let patch = input.parse().gql()?;
        let updated = ctx.data::<TodoService>()?.update(actor, id, patch).await;
        let row = unless_gone(ctx, updated).await?;
        changed_data(ctx);
        Ok(TodoObject(row))
    }

    /// Returns the id of the deleted todo. NOT_FOUND when it is not the caller's.
    async fn delete_todo(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let actor = writer_id(ctx).await?;
        let id = parse_id(id.as_str()).gql()?;
        let deleted = ctx.data::<TodoService>()?.delete(actor, id).await;
        let deleted = unless_gone(ctx, deleted).await?;
        changed_data(ctx);
        Ok(ID(deleted.to_string()))
    }

    /// Marks every todo of a list (default: the caller's default list) completed or active;
    /// returns how many changed. OWNER or EDITOR.
    async fn toggle_all_todos(
        &self,
        ctx: &Context<'_>,
        completed: bool,
        list_id: Option<ID>,
    ) -> async_graphql::Result<i32> {
        let user = viewer(ctx).await?;
        let list = target_list(&user, list_id.as_ref()).gql()?;
        let n = ctx
            .data::<TodoService>()?
            .set_all_completed(user.id, list, completed)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// Deletes the completed todos of a list (default: the caller's default list); returns
    /// how many were deleted. OWNER or EDITOR.
    async fn clear_completed_todos(
        &self,
        ctx: &Context<'_>,
        list_id: Option<ID>,
    ) -> async_graphql::Result<i32> {
        let user = viewer(ctx).await?;
        let list = target_list(&user, list_id.as_ref()).gql()?;
        let n = ctx
            .data::<TodoService>()?
            .delete_many(user.id, list, true)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// Moves a todo within its list or to another list (EDITOR or OWNER of both). afterId
    /// alone: right after that todo; beforeId alone: right before it; both: a key strictly
    /// between theirs (BAD_USER_INPUT unless afterId's key < beforeId's); position: the key
    /// the client chose; none of these: first in the target list. BAD_USER_INPUT when a todo
    /// named is unknown, not in the target list, or the moved todo itself, and when position
    /// comes together with afterId or beforeId. expectedVersion as for updateTodo.
    async fn move_todo(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: MoveTodoInput,
    ) -> async_graphql::Result<TodoObject> {
        let user = viewer(ctx).await?;
        let id = parse_id(id.as_str()).gql()?;
        let request = MoveTodo::parse(
            input.list_id.as_ref().map(|i| i.as_str()),
            input.after_id.as_ref().map(|i| i.as_str()),
            input.before_id.as_ref().map(|i| i.as_str()),
            input.position.as_deref(),
            input.expected_version,
        )
        .gql()?;
        let row = ctx
            .data::<TodoService>()?
            .move_todo(user.id, id, request)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(TodoObject(row))
    }
}
