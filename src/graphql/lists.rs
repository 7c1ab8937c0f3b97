//! The GraphQL object types of lists that cross features: `TodoList` (with
//! its todos), `Collaborator`, `ListMember`, the list connection, and the
//! `Change` union of the `changes` feed. They live in the wiring layer
//! beside `User` and `Todo`, which they refer to and which refer to them.

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Union};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    context::{load_user, viewer},
    objects::{
        PageInfo, TodoConnection, TodoCounts, TodoFilterInput, TodoOrderInput, todo_connection,
    },
};
use crate::{
    auth::model::User,
    error::{ErrorCode, coded, log_internal},
    events::{
        graphql::TodoEventObject,
        service::{ListAction, ListEvent},
    },
    lists::{
        access::Role,
        loader::{ListDataLoader, Members},
        model::{ListRow, MemberRow, MemberWithUser, Membership},
    },
    todos::domain::Scope,
};

/// A member's role.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ListRole", remote = "Role")]
pub enum ListRoleObject {
    /// Everything, plus members, invitations, transfer and deletion.
    Owner,
    /// Reads and writes todos, renames the list.
    Editor,
    /// Reads only.
    Viewer,
}

/// The caller's membership of `list`, through the request's DataLoader
/// (`None`: not a member, and the list must behave as missing).
pub async fn membership(
    ctx: &Context<'_>,
    user: Uuid,
    list: Uuid,
) -> async_graphql::Result<Option<Membership>> {
    let loader = ctx.data::<ListDataLoader>()?;
    loader.load_one((user, list)).await.map_err(|e| {
        log_internal(e.as_ref());
        coded(ErrorCode::InternalServerError, "Internal server error")
    })
}

/// A todo list as the caller sees it.
pub struct TodoListObject {
    list: ListRow,
    member: MemberRow,
    is_default: bool,
}

impl TodoListObject {
    /// The list of `membership`, seen by `viewer`.
    pub fn new(membership: Membership, viewer: &User) -> Self {
        Self {
            is_default: membership.list.id == viewer.default_list_id,
            list: membership.list,
            member: membership.member,
        }
    }
}

#[Object(name = "TodoList")]
impl TodoListObject {
    async fn id(&self) -> ID {
        ID(self.list.id.to_string())
    }

    /// 1 to 100 characters, trimmed.
    async fn name(&self) -> &str {
        &self.list.name
    }

    /// The caller's own default list: cannot be deleted, left or transferred.
    async fn is_default(&self) -> bool {
        self.is_default
    }

    /// The caller's role in this list.
    async fn role(&self) -> ListRoleObject {
        self.member.role().into()
    }

    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<CollaboratorObject> {
        Ok(CollaboratorObject::from_user(
            &load_user(ctx, self.list.owner_id).await?,
        ))
    }

    /// Every member, the owner included.
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ListMemberObject>> {
        let loader = ctx.data::<ListDataLoader>()?;
        let members = loader.load_one(self.list.id).await.map_err(|e| {
            log_internal(e.as_ref());
            coded(ErrorCode::InternalServerError, "Internal server error")
        })?;
        Ok(members
            .unwrap_or(Members(Vec::new()))
            .0
            .into_iter()
            .map(ListMemberObject)
            .collect())
    }

    #[graphql(complexity = "2 + first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn todos(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<TodoFilterInput>,
        #[graphql(default_with = "Some(TodoOrderInput::Position)")] order_by: Option<
            TodoOrderInput,
        >,
    ) -> async_graphql::Result<TodoConnection> {
        let user = viewer(ctx).await?;
        let filter = filter.unwrap_or_default();
        todo_connection(
            ctx,
            user.id,
            user.event_seq,
            Scope::List(self.list.id),
            first,
            after,
            filter,
            order_by,
        )
        .await
    }

    async fn todo_counts(&self, ctx: &Context<'_>) -> async_graphql::Result<TodoCounts> {
        let user = viewer(ctx).await?;
        TodoCounts::load(ctx, user.id, user.event_seq, self.list.id).await
    }

    /// Where the list sits among the caller's lists.
    async fn position(&self) -> &str {
        &self.member.position
    }

    async fn version(&self) -> i32 {
        self.list.version
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.list.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.list.updated_at
    }
}

/// Another user as the members of a shared list see them.
#[derive(SimpleObject)]
#[graphql(name = "Collaborator")]
pub struct CollaboratorObject {
    id: ID,
    email: String,
    display_name: Option<String>,
}

impl CollaboratorObject {
    /// From a user row.
    pub fn from_user(user: &User) -> Self {
        Self {
            id: ID(user.id.to_string()),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
        }
    }
}

/// A member of a list.
pub struct ListMemberObject(pub MemberWithUser);

#[Object(name = "ListMember")]
impl ListMemberObject {
    async fn user(&self) -> CollaboratorObject {
        CollaboratorObject {
            id: ID(self.0.member.user_id.to_string()),
            email: self.0.email.clone(),
            display_name: self.0.display_name.clone(),
        }
    }

    async fn role(&self) -> ListRoleObject {
        self.0.member.role().into()
    }

    async fn joined_at(&self) -> DateTime<Utc> {
        self.0.member.joined_at
    }
}

/// A page of lists.
pub struct TodoListConnection {
    /// The lists of the page, with their cursors.
    pub lists: Vec<(String, TodoListObject)>,
    /// Relay page information.
    pub page_info: PageInfo,
    /// How many lists the caller is a member of.
    pub total: usize,
}

/// An edge of [`TodoListConnection`].
pub struct TodoListEdge<'a>(&'a (String, TodoListObject));

#[Object(name = "TodoListEdge")]
impl TodoListEdge<'_> {
    async fn cursor(&self) -> &str {
        &self.0.0
    }

    async fn node(&self) -> &TodoListObject {
        &self.0.1
    }
}

#[Object(name = "TodoListConnection")]
impl TodoListConnection {
    async fn edges(&self) -> Vec<TodoListEdge<'_>> {
        self.lists.iter().map(TodoListEdge).collect()
    }

    async fn nodes(&self) -> Vec<&TodoListObject> {
        self.lists.iter().map(|(_, l)| l).collect()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    async fn total_count(&self) -> i32 {
        i32::try_from(self.total).unwrap_or(i32::MAX)
    }
}

/// What happened to a list.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ListEventKind")]
pub enum ListEventKindObject {
    /// A list was created, or the caller was granted access (list present).
    AccessGranted,
    /// Renamed, moved, a member joined, left or changed role (list present).
    Updated,
    /// The list was deleted, or the caller lost access to it (list null).
    AccessRevoked,
}

/// A change to a list, in the caller's feed.
pub struct ListEventObject(
    pub std::sync::Arc<crate::events::service::Change>,
    pub ListEvent,
);

#[Object(name = "ListEvent")]
impl ListEventObject {
    /// The same cursor space as TodoEvent.cursor.
    async fn cursor(&self) -> String {
        self.0.cursor()
    }

    /// Named `action`, not `kind`, so that one selection can ask for both.
    async fn action(&self) -> ListEventKindObject {
        match self.1.action {
            ListAction::Granted => ListEventKindObject::AccessGranted,
            ListAction::Updated => ListEventKindObject::Updated,
            ListAction::Revoked => ListEventKindObject::AccessRevoked,
        }
    }

    async fn list_id(&self) -> ID {
        ID(self.1.list_id.to_string())
    }

    /// The list as it stood right after this change; null for ACCESS_REVOKED.
    async fn list(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TodoListObject>> {
        let Some(s) = &self.1.snapshot else {
            return Ok(None);
        };
        let user = viewer(ctx).await?;
        Ok(Some(TodoListObject {
            is_default: s.id == user.default_list_id,
            list: ListRow {
                id: s.id,
                name: s.name.clone(),
                owner_id: s.owner_id,
                version: s.version,
                created_at: s.created_at,
                updated_at: s.updated_at,
            },
            member: MemberRow {
                list_id: s.id,
                user_id: self.1.user_id,
                role: s.role.clone(),
                position: s.position.clone(),
                joined_at: s.created_at,
            },
        }))
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.1.occurred_at
    }
}

/// Anything in the caller's feed.
#[derive(Union)]
#[graphql(name = "Change")]
pub enum ChangeObject {
    /// A todo changed.
    TodoEvent(TodoEventObject),
    /// A list changed.
    ListEvent(ListEventObject),
}

/// Parses a list id as sent: a malformed one names no list.
pub fn parse_list_id(raw: &str) -> Option<Uuid> {
    Uuid::try_parse(raw).ok()
}

/// The caller's list `id` as an object, or `NOT_FOUND` (also for lists the
/// caller is not a member of).
pub async fn require_list(
    ctx: &Context<'_>,
    user: &User,
    id: &ID,
) -> async_graphql::Result<Membership> {
    let list =
        parse_list_id(id.as_str()).ok_or_else(|| coded(ErrorCode::NotFound, "list not found"))?;
    membership(ctx, user.id, list)
        .await?
        .ok_or_else(|| coded(ErrorCode::NotFound, "list not found"))
}
