//! `Query.todos` read in one round trip to PostgreSQL: the viewer's row,
//! the page and its count pipelined on one connection (see
//! [`viewer_todo_connection`]).

use async_graphql::Context;

use super::{
    context::{adopt_viewer, prefetch, viewer, viewer_id},
    objects::{TodoConnection, TodoFilterInput, TodoOrderInput, TodosInput, todo_connection},
};
use crate::{
    auth::AuthService,
    error::GqlResultExt,
    todos::{
        TodoService,
        domain::{PageRequest, Scope, TodoOrder},
    },
};

/// `Query.todos`: the caller's todos (`allLists`: of every list they are
/// a member of). With the read cache off, the viewer's row, the page and
/// its count go to PostgreSQL in one write on one connection (the page
/// finds the default list itself, `Scope::DefaultOf`), and the row is
/// primed into the request's user DataLoader, so the nodes' `owner` of
/// the caller's own todos costs nothing more. Otherwise (cache on, no
/// valid token, input that does not parse: its error comes after the
/// authentication error, as it always did), as [`todo_connection`].
pub async fn viewer_todo_connection(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    filter: TodoFilterInput,
    order_by: Option<TodoOrderInput>,
) -> async_graphql::Result<TodoConnection> {
    let todos = ctx.data::<TodoService>()?;
    let order = order_by.map(TodoOrder::from).unwrap_or_default();
    let parsed = PageRequest::parse(first.map(i64::from), after.as_deref(), order)
        .and_then(|page| Ok((page, filter.parse()?)));
    let (Some(id), false, Ok((page, parsed))) = (viewer_id(ctx), todos.caches_reads(), parsed)
    else {
        let user = viewer(ctx).await?;
        let scope = filter.scope(&user);
        let input = TodosInput {
            first,
            after,
            filter,
            order_by,
        };
        return todo_connection(ctx, (user.id, user.event_seq), scope, input).await;
    };
    let scope = match filter.all_lists {
        Some(true) => Scope::MemberOf(id),
        _ => Scope::DefaultOf(id),
    };
    let with_total = ctx.look_ahead().field("totalCount").exists();
    let (user, page) = todos
        .list_with(scope, &parsed, &page, with_total, async |conn| {
            AuthService::users_on(conn, &[id])
                .await
                .map(|mut rows| rows.pop())
        })
        .await
        .gql()?;
    let user = adopt_viewer(ctx, user).await?;
    let page = page.gql()?;
    prefetch(ctx, user.id, scope, &page.rows).await?;
    Ok(TodoConnection::live(
        user.id,
        user.event_seq,
        scope,
        parsed,
        page,
    ))
}
