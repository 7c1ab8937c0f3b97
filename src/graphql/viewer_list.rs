//! `Query.list(id)` read in one round trip to PostgreSQL: the viewer's
//! row, the membership, the page of `todos` and its count, and the
//! accounts of the list's members, pipelined on one connection (see
//! [`viewer_list`]).

use async_graphql::{Context, ID};
use futures_util::future::OptionFuture;

use super::{
    ahead::{AheadPage, TodosAhead, TodosArgs},
    context::{adopt_viewer, viewer, viewer_id},
    lists::{membership, parse_list_id},
    objects::TodoListObject,
};
use crate::{
    auth::{AuthService, loader::UserDataLoader},
    error::GqlResultExt,
    lists::{ListService, loader::ListDataLoader},
    todos::{TodoService, domain::Scope},
};

/// `Query.list(id)`: the list, or null when it does not exist or the
/// caller is not a member. With the read cache off, everything the
/// selection will ask of PostgreSQL goes in one write on one connection:
/// the viewer's row, the membership, and when selected, the one `todos`
/// page with its count and the accounts of the list's members (for the
/// todos' `owner` and the list's). The page and the accounts are read
/// only if the caller is a member (each statement checks it itself: a
/// non-member costs the same whether the list exists or not), and are
/// used only once the membership says so; the decision is the
/// membership's, as through [`membership`]. The viewer's row, the
/// membership and the accounts are primed into the request's
/// DataLoaders, and the page handed to the list object
/// ([`TodosAhead`]), so the fields below cost no further query (an owner
/// who has left the list still loads through the DataLoader). Otherwise
/// (cache on, no valid token, an id that names no list) the viewer, then
/// the membership through the DataLoader.
pub async fn viewer_list(
    ctx: &Context<'_>,
    id: &ID,
) -> async_graphql::Result<Option<TodoListObject>> {
    let todos = ctx.data::<TodoService>()?;
    let (Some(caller), Some(list), false) = (
        viewer_id(ctx),
        parse_list_id(id.as_str()),
        todos.caches_reads(),
    ) else {
        let user = viewer(ctx).await?;
        let Some(list) = parse_list_id(id.as_str()) else {
            return Ok(None);
        };
        return Ok(membership(ctx, user.id, list)
            .await?
            .map(|m| TodoListObject::new(m, &user)));
    };
    let look = ctx.look_ahead();
    let todos_look = look.field("todos");
    let ahead = TodosArgs::ahead(&todos_look);
    let with_total = todos_look.field("totalCount").exists();
    let nodes = todos_look.field("nodes");
    let edges = todos_look.field("edges").field("node");
    let with_users = look.field("owner").exists()
        || ["owner", "createdBy"]
            .iter()
            .any(|f| nodes.field(f).exists() || edges.field(f).exists());
    let scope = Scope::ListIfMember {
        list,
        member: caller,
    };
    let ((row, page, users), found) = ctx
        .data::<ListService>()?
        .membership_with(caller, list, async |conn| {
            let ids = [caller];
            let page = ahead
                .as_ref()
                .map(|a| TodoService::page_on(conn, scope, &a.filter, &a.page, with_total));
            let users = with_users.then(|| ListService::member_users_on(conn, list, caller));
            // Polled in this order: the statements go out in it.
            futures_util::join!(
                AuthService::users_on(conn, &ids),
                OptionFuture::from(page),
                OptionFuture::from(users),
            )
        })
        .await
        .gql()?;
    let user = adopt_viewer(ctx, row.map(|mut rows| rows.pop())).await?;
    let Some(found) = found.gql()? else {
        return Ok(None);
    };
    ctx.data::<ListDataLoader>()?
        .feed_one((caller, list), found.clone())
        .await;
    // A read ahead that failed is only a shortcut lost: the fields read
    // again through the DataLoader or the service, and report their error.
    if let Some(Ok(users)) = users {
        ctx.data::<UserDataLoader>()?
            // The caller's row stays the one checked by `adopt_viewer`.
            .feed_many(users.into_iter().filter(|u| u.id != caller));
    }
    let mut object = TodoListObject::new(found, &user);
    if let (Some(args), Some(Ok(page))) = (ahead, page) {
        let (viewer, version) = (user.id, user.event_seq);
        let read = AheadPage {
            page,
            viewer,
            version,
        };
        object.todos_ahead = TodosAhead::new(args, read);
    }
    Ok(Some(object))
}
