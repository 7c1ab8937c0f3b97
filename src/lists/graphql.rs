//! GraphQL resolvers for lists: `lists`, `list` and the list and member
//! mutations, with their inputs. The object types live in
//! `graphql::lists` (they refer to `Todo` and `User`).

use async_graphql::{Context, ID, InputObject, Object};
use uuid::Uuid;

use super::{
    ListError, ListService,
    access::Role,
    domain::{ListName, client_list_id, encode_cursor, list_page},
    position::PositionKey,
};
use crate::{
    error::GqlResultExt,
    graphql::{
        context::{changed_data, viewer},
        lists::{ListInvitationObject, ListMemberObject, ListRoleObject, parse_list_id},
        objects::{PageInfo, TodoListConnection, TodoListObject},
        viewer_list::viewer_list,
    },
};

/// Input of `createList`.
#[derive(InputObject)]
pub struct CreateListInput {
    /// 1 to 100 characters, trimmed.
    pub name: String,
    /// A UUID (version 4 or 7) chosen by the client. Repeated with the same name: the existing
    /// list; with another name, or someone else's id: CONFLICT.
    pub id: Option<ID>,
}

/// Input of `updateList`.
#[derive(InputObject)]
pub struct UpdateListInput {
    /// A new name (OWNER or EDITOR).
    pub name: Option<String>,
    /// Moves the list among the caller's own lists (a key as described in the header).
    pub position: Option<String>,
    /// When given and not the list's current version: CONFLICT, and nothing changes.
    pub expected_version: Option<i32>,
}

fn list_id(raw: &ID) -> Result<Uuid, ListError> {
    parse_list_id(raw.as_str()).ok_or(ListError::NotFound("list"))
}

fn invitation_id(raw: &ID) -> Result<Uuid, ListError> {
    Uuid::try_parse(raw.as_str()).map_err(|_| ListError::NotFound("invitation"))
}

/// A member id as sent. A malformed one names nobody: the nil id, which is
/// no member, so the service answers as for any non-member (after the
/// caller's role is checked, as the contract orders).
fn user_id(raw: &ID) -> Uuid {
    Uuid::try_parse(raw.as_str()).unwrap_or(Uuid::nil())
}

/// List queries.
#[derive(Default)]
pub struct ListQuery;

#[Object]
impl ListQuery {
    /// The lists the caller is a member of: the default list first, then by position.
    async fn lists(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<TodoListConnection> {
        let user = viewer(ctx).await?;
        let (first, start) = list_page(first, after.as_deref()).gql()?;
        let mut all = ctx
            .data::<ListService>()?
            .memberships_of(user.id)
            .await
            .gql()?;
        // The default list first; the rest keep their sidebar order.
        all.sort_by_key(|m| m.list.id != user.default_list_id);
        let total = all.len();
        let lists: Vec<(String, TodoListObject)> = all
            .into_iter()
            .enumerate()
            .skip(start)
            .take(first)
            .map(|(i, m)| (encode_cursor(i), TodoListObject::new(m, &user)))
            .collect();
        let end = start + lists.len();
        Ok(TodoListConnection {
            page_info: PageInfo {
                has_previous_page: start > 0,
                has_next_page: end < total,
                start_cursor: lists.first().map(|l| l.0.clone()),
                end_cursor: lists.last().map(|l| l.0.clone()),
            },
            lists,
            total,
        })
    }

    /// Invitations addressed to the caller's email that are still pending; empty until that
    /// email is verified.
    async fn invitations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ListInvitationObject>> {
        let user = viewer(ctx).await?;
        let found = ctx
            .data::<ListService>()?
            .invitations_for(&user)
            .await
            .gql()?;
        Ok(found.into_iter().map(ListInvitationObject).collect())
    }

    /// One list; null when it does not exist or the caller is not a member.
    async fn list(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<TodoListObject>> {
        viewer_list(ctx, &id).await
    }
}

/// List mutations.
#[derive(Default)]
pub struct ListMutation;

#[Object]
impl ListMutation {
    /// A new list owned by the caller, placed after its other lists.
    async fn create_list(
        &self,
        ctx: &Context<'_>,
        input: CreateListInput,
    ) -> async_graphql::Result<TodoListObject> {
        let user = viewer(ctx).await?;
        let name = ListName::parse(&input.name).gql()?;
        let id = client_list_id(input.id.as_ref().map(|i| i.as_str())).gql()?;
        let m = ctx
            .data::<ListService>()?
            .create(user.id, name, id)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(TodoListObject::new(m, &user))
    }

    /// name: OWNER or EDITOR. position: any member (it orders the caller's own sidebar, is
    /// seen by the caller alone, and changes neither the list's version nor anyone else's
    /// feed). expectedVersion as for updateTodo.
    async fn update_list(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateListInput,
    ) -> async_graphql::Result<TodoListObject> {
        let user = viewer(ctx).await?;
        let list = list_id(&id).gql()?;
        let name = input
            .name
            .as_deref()
            .map(ListName::parse)
            .transpose()
            .gql()?;
        let position = input
            .position
            .as_deref()
            .map(|p| PositionKey::parse(p).map_err(ListError::from))
            .transpose()
            .gql()?;
        let m = ctx
            .data::<ListService>()?
            .update(user.id, list, name, position, input.expected_version)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(TodoListObject::new(m, &user))
    }

    /// OWNER only; not the default list. Deletes the list and its todos; returns its id.
    async fn delete_list(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let user = viewer(ctx).await?;
        let list = list_id(&id).gql()?;
        let deleted = ctx
            .data::<ListService>()?
            .delete(user.id, list)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(ID(deleted.to_string()))
    }

    /// OWNER only. Invites an email address (with or without an account) as EDITOR or VIEWER
    /// (OWNER is refused with BAD_USER_INPUT); an email is sent to it. Inviting an existing
    /// member, or an address with a pending invitation to this list, is CONFLICT.
    /// Rate limited per inviter (RATE_LIMITED).
    async fn invite_to_list(
        &self,
        ctx: &Context<'_>,
        list_id: ID,
        email: String,
        role: ListRoleObject,
    ) -> async_graphql::Result<ListInvitationObject> {
        let user = viewer(ctx).await?;
        let list = self::list_id(&list_id).gql()?;
        let view = ctx
            .data::<ListService>()?
            .invite(user.id, list, &email, Role::from(role))
            .await
            .gql()?;
        Ok(ListInvitationObject(view))
    }

    /// The caller's email must be the invitation's (case-insensitive; otherwise NOT_FOUND,
    /// checked first) and verified (otherwise `EMAIL_NOT_VERIFIED`; the answer carries neither
    /// the list's name nor its id).
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<TodoListObject> {
        let user = viewer(ctx).await?;
        let id = invitation_id(&id).gql()?;
        let m = ctx.data::<ListService>()?.accept(&user, id).await.gql()?;
        changed_data(ctx);
        Ok(TodoListObject::new(m, &user))
    }

    /// The invitee declines, or the list's OWNER withdraws it. True when it was pending.
    async fn cancel_invitation(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let user = viewer(ctx).await?;
        let id = invitation_id(&id).gql()?;
        ctx.data::<ListService>()?.cancel(&user, id).await.gql()
    }

    /// OWNER only; role EDITOR or VIEWER (OWNER: BAD_USER_INPUT, use transferList).
    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        list_id: ID,
        user_id: ID,
        role: ListRoleObject,
    ) -> async_graphql::Result<ListMemberObject> {
        let user = viewer(ctx).await?;
        let list = self::list_id(&list_id).gql()?;
        let member = self::user_id(&user_id);
        let m = ctx
            .data::<ListService>()?
            .change_role(user.id, list, member, Role::from(role))
            .await
            .gql()?;
        changed_data(ctx);
        Ok(ListMemberObject(m))
    }

    /// OWNER removes any other member; any non-owner member may remove itself (leave).
    /// True when removed. Another member removing someone else: FORBIDDEN.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        list_id: ID,
        user_id: ID,
    ) -> async_graphql::Result<bool> {
        let user = viewer(ctx).await?;
        let list = self::list_id(&list_id).gql()?;
        let member = self::user_id(&user_id);
        let removed = ctx
            .data::<ListService>()?
            .remove_member(user.id, list, member)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(removed)
    }

    /// OWNER only: makes another member the OWNER; the previous owner becomes EDITOR.
    async fn transfer_list(
        &self,
        ctx: &Context<'_>,
        list_id: ID,
        user_id: ID,
    ) -> async_graphql::Result<TodoListObject> {
        let user = viewer(ctx).await?;
        let list = self::list_id(&list_id).gql()?;
        let member = self::user_id(&user_id);
        let m = ctx
            .data::<ListService>()?
            .transfer(user.id, list, member)
            .await
            .gql()?;
        changed_data(ctx);
        Ok(TodoListObject::new(m, &user))
    }
}
