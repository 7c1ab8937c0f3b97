//! GraphQL resolvers of the trash: `Query.trash`, `Mutation.restoreTodo`
//! and `Mutation.emptyTrash` (`deleteTodo` and `clearCompletedTodos` fill
//! it; see `todos::service::trash`).

use async_graphql::{Context, ID, Object};

use super::target_list;
use crate::{
    error::GqlResultExt,
    graphql::{
        context::{changed_data, prefetch, viewer},
        lists::membership,
        objects::{TodoConnection, TodoObject},
    },
    lists::access::{Action, Denied, authorize},
    todos::{TodoError, TodoService, domain::Scope, domain::parse_id, service::TrashPage},
};

/// Trash queries.
#[derive(Default)]
pub struct TrashQuery;

#[Object]
impl TrashQuery {
    /// Trashed todos of one list (default: the default list), most recently deleted first; any member may read it.
    #[graphql(complexity = "2 + first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn trash(
        &self,
        ctx: &Context<'_>,
        list_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<TodoConnection> {
        let user = viewer(ctx).await?;
        let list = target_list(&user, list_id.as_ref()).gql()?;
        // A list the caller is not in is missing, as for the todo
        // mutations that name a list (NOT_FOUND, since the field is non-null).
        let role = membership(ctx, user.id, list)
            .await?
            .map(|m| m.member.role());
        authorize(role, Action::Read)
            .map_err(|denied| match denied {
                Denied::Missing => TodoError::ListNotFound,
                Denied::Forbidden(_) => TodoError::Forbidden,
            })
            .gql()?;
        let page = TrashPage::parse(first.map(i64::from), after.as_deref()).gql()?;
        let with_total = ctx.look_ahead().field("totalCount").exists();
        let page = ctx
            .data::<TodoService>()?
            .trash(list, &page, with_total)
            .await
            .gql()?;
        prefetch(ctx, user.id, Scope::List(list), &page.rows).await?;
        Ok(TodoConnection::trash(user.id, list, page))
    }
}

/// Trash mutations.
#[derive(Default)]
pub struct TrashMutation;

#[Object]
impl TrashMutation {
    /// OWNER or EDITOR of its list. NOT_FOUND when not in the trash. Deleting keeps the version; restoring adds 1.
    async fn restore_todo(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<TodoObject> {
        let user = viewer(ctx).await?;
        let id = parse_id(id.as_str()).gql()?;
        let row = ctx
            .data::<TodoService>()?
            .restore(user.id, id)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(TodoObject(row))
    }

    /// Deletes the list's trash for good (OWNER or EDITOR); returns how many.
    async fn empty_trash(
        &self,
        ctx: &Context<'_>,
        list_id: Option<ID>,
    ) -> async_graphql::Result<i32> {
        let user = viewer(ctx).await?;
        let list = target_list(&user, list_id.as_ref()).gql()?;
        let n = ctx
            .data::<TodoService>()?
            .empty_trash(user.id, list)
            .await
            .gql()?;
        // No `changed_data`: emptying the trash moves no data version and
        // no membership (see `TodoService::empty_trash`).
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}
