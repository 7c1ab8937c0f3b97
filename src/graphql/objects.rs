//! The GraphQL object types that cross features: `User` (an account, with
//! its todos), `Todo` (with its owner and list), `TodoList` (with its
//! todos), and the connections and inputs they share. They refer to each
//! other, so they live together here, in the wiring layer; the features'
//! GraphQL layers (`auth::graphql`, `todos::graphql`, `events::graphql`)
//! return them. `PageInfo` and `TodoCounts`, which refer to no other
//! object type, are in [`super::summaries`].
//!
//! Resolvers that wait on a query or a loader run their work in a box of
//! its own (`.boxed()`). async-graphql boxes the future of every resolved
//! field, sized for the largest resolver of the field's type. While `list`
//! read memberships inline, every `title` of a page cost a 2 KB box, copied
//! and freed 80 times per page (docs/benchmarks.md, sixth session). Boxed
//! apart, the heavy resolvers pay one small allocation when they are
//! selected, and the plain fields' boxes stay small.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use uuid::Uuid;

use super::{
    ahead::{TodosAhead, TodosArgs},
    context::{load_user, prefetch, viewer},
    lists::{
        CollaboratorObject, ListInvitationObject, ListMemberObject, ListRoleObject, membership,
    },
};
pub use super::{
    inputs::{TodoFilterInput, TodoOrderInput},
    summaries::{PageInfo, TodoCounts},
};
use crate::{
    auth::model::User,
    error::{ErrorCode, GqlResultExt, coded, log_internal},
    lists::{
        ListService,
        access::Role,
        loader::{ListDataLoader, Members},
        model::{ListRow, MemberRow, Membership},
    },
    todos::{
        TodoService,
        cursor::TrashCursor,
        domain::{PageRequest, Scope, TodoFilter, TodoOrder},
        model::TodoRow,
        service::Page,
    },
};

/// An account.
pub struct UserObject {
    /// Shared with the request's user loader (a page's nodes share one row).
    user: Arc<User>,
    /// Known to be the caller (from `me` or a sign-in payload), so no
    /// further check is needed to walk into their todos.
    is_caller: bool,
}

impl UserObject {
    /// The caller themselves.
    pub fn caller(user: User) -> Self {
        Self {
            user: Arc::new(user),
            is_caller: true,
        }
    }

    /// A user reached through an edge (e.g. `Todo.owner`); walking into
    /// their todos requires them to be the caller.
    pub fn reached(user: Arc<User>) -> Self {
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
        async move {
            self.authorize(ctx).await?;
            let version = self.version(ctx).await?;
            TodoCounts::load(ctx, self.user.id, version, self.user.default_list_id).await
        }
        .boxed()
        .await
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
    ) -> async_graphql::Result<Box<TodoConnection>> {
        // Boxed, as `Todo.list` (the module's notes).
        async move {
            self.authorize(ctx).await?;
            let version = self.version(ctx).await?;
            let filter = filter.unwrap_or_default();
            let scope = filter.scope(&self.user);
            let input = TodosInput {
                first,
                after,
                filter,
                order_by,
            };
            todo_connection(ctx, (self.user.id, version), scope, input)
                .await
                .map(Box::new)
        }
        .boxed()
        .await
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
        let user = load_user(ctx, self.0.owner_id).boxed().await?;
        Ok(UserObject::reached(user))
    }

    /// Batched per request: a page of todos across many lists costs one
    /// membership query.
    // Boxed: the list is held while its fields resolve, and at 400 bytes
    // it would double every `Todo` field's box (see the module's notes).
    async fn list(&self, ctx: &Context<'_>) -> async_graphql::Result<Box<TodoListObject>> {
        async move {
            let user = viewer(ctx).await?;
            match membership(ctx, user.id, self.0.list_id).await? {
                Some(m) => Ok(Box::new(TodoListObject::new(m, &user))),
                None => Err(coded(ErrorCode::NotFound, "list not found")),
            }
        }
        .boxed()
        .await
    }

    /// The todo's place in its list under orderBy: POSITION. New todos go first.
    async fn position(&self) -> &str {
        &self.0.position
    }

    /// When it went to the trash; null unless read through Query.trash.
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }

    /// Who created it (Todo.owner is the same user).
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<CollaboratorObject> {
        let user = load_user(ctx, self.0.owner_id).boxed().await?;
        Ok(CollaboratorObject::from_user(&user))
    }
}

/// A page of todos (Relay cursor connection).
pub struct TodoConnection {
    viewer: Uuid,
    version: i64,
    listing: Listing,
    page: Page,
}

/// What a [`TodoConnection`] pages through (its cursors and total differ).
enum Listing {
    /// Live todos of `scope` matching `filter`, in the page's order.
    Live { scope: Scope, filter: TodoFilter },
    /// The trash of one list, most recently deleted first.
    Trash(Uuid),
}

impl TodoConnection {
    /// A page of `list`'s trash as `viewer` reads it (who may read `list`).
    pub fn trash(viewer: Uuid, list: Uuid, page: Page) -> Self {
        Self {
            viewer,
            // Only live counts read it: the trash is never cached.
            version: 0,
            listing: Listing::Trash(list),
            page,
        }
    }

    /// A page of live todos of `scope` matching `filter`, as `viewer`
    /// reads them at data `version`.
    pub fn live(viewer: Uuid, version: i64, scope: Scope, filter: TodoFilter, page: Page) -> Self {
        Self {
            viewer,
            version,
            listing: Listing::Live { scope, filter },
            page,
        }
    }

    /// The cursor just after `row`.
    fn cursor(&self, row: &TodoRow) -> String {
        match (&self.listing, row.deleted_at) {
            (Listing::Trash(_), Some(deleted_at)) => TrashCursor {
                deleted_at,
                id: row.id,
            }
            .encode(),
            _ => row.cursor(self.page.order).encode(),
        }
    }
}

/// An edge of [`TodoConnection`].
#[derive(SimpleObject)]
#[graphql(name = "TodoEdge")]
pub struct TodoEdge {
    cursor: String,
    node: TodoObject,
}

#[Object]
impl TodoConnection {
    async fn edges(&self) -> Vec<TodoEdge> {
        self.page
            .rows
            .iter()
            .map(|row| TodoEdge {
                cursor: self.cursor(row),
                node: TodoObject(row.clone()),
            })
            .collect()
    }

    async fn nodes(&self) -> Vec<TodoObject> {
        self.page.rows.iter().cloned().map(TodoObject).collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_previous_page: self.page.has_previous_page,
            has_next_page: self.page.has_next_page,
            start_cursor: self.page.rows.first().map(|r| self.cursor(r)),
            end_cursor: self.page.rows.last().map(|r| self.cursor(r)),
        }
    }

    /// How many todos match the filter, across all pages (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let todos = ctx.data::<TodoService>()?;
        let n = match (self.page.total, &self.listing) {
            (Some(n), _) => n,
            (None, Listing::Live { scope, filter }) => todos
                .count(self.viewer, self.version, *scope, filter)
                .boxed()
                .await
                .gql()?,
            (None, Listing::Trash(list)) => todos.trash_count(*list).boxed().await.gql()?,
        };
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// A `todos` field's arguments, as the client sent them.
pub struct TodosInput {
    /// Page size (default 20, at most 100).
    pub first: Option<i32>,
    /// The cursor to continue after.
    pub after: Option<String>,
    /// Which todos.
    pub filter: TodoFilterInput,
    /// In which order.
    pub order_by: Option<TodoOrderInput>,
}

/// Resolves a todo connection of `scope` as `viewer` reads it at data
/// `version` (shared by `Query.todos`, `User.todos` and `TodoList.todos`;
/// the caller has checked that `viewer` may read `scope`).
pub async fn todo_connection(
    ctx: &Context<'_>,
    (viewer, version): (Uuid, i64),
    scope: Scope,
    input: TodosInput,
) -> async_graphql::Result<TodoConnection> {
    let TodosInput {
        first,
        after,
        filter,
        order_by,
    } = input;
    let order = order_by.map(TodoOrder::from).unwrap_or_default();
    let page = PageRequest::parse(first.map(i64::from), after.as_deref(), order).gql()?;
    let filter = filter.parse().gql()?;
    let todos = ctx.data::<TodoService>()?;
    // Fetched with the page when selected: one cache entry for both.
    let with_total = ctx.look_ahead().field("totalCount").exists();
    let page = todos
        .list(viewer, version, scope, &filter, &page, with_total)
        .await
        .gql()?;
    prefetch(ctx, viewer, scope, &page.rows).await?;
    Ok(TodoConnection {
        viewer,
        version,
        listing: Listing::Live { scope, filter },
        page,
    })
}

/// A todo list as the caller sees it.
pub struct TodoListObject {
    /// The list.
    pub list: ListRow,
    /// The caller's membership.
    pub member: MemberRow,
    /// Whether it is the caller's default list.
    pub is_default: bool,
    /// A page of `todos` read with the list (`Query.list`), if any.
    pub todos_ahead: TodosAhead,
}

impl TodoListObject {
    /// The list of `membership`, seen by `viewer`.
    pub fn new(membership: Membership, viewer: &User) -> Self {
        Self {
            is_default: membership.list.id == viewer.default_list_id,
            list: membership.list,
            member: membership.member,
            todos_ahead: TodosAhead::default(),
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
        let user = load_user(ctx, self.list.owner_id).boxed().await?;
        Ok(CollaboratorObject::from_user(&user))
    }

    /// Pending invitations; empty unless the caller is the OWNER.
    async fn pending_invitations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ListInvitationObject>> {
        if self.member.role() != Role::Owner {
            return Ok(Vec::new());
        }
        let pending = ctx
            .data::<ListService>()?
            .pending_of_list(self.list.id)
            .boxed()
            .await
            .gql()?;
        Ok(pending.into_iter().map(ListInvitationObject).collect())
    }

    /// Every member, the owner included.
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ListMemberObject>> {
        let loader = ctx.data::<ListDataLoader>()?;
        let members = loader.load_one(self.list.id).boxed().await.map_err(|e| {
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
    ) -> async_graphql::Result<Box<TodoConnection>> {
        // Boxed, as `Todo.list` (the module's notes).
        let filter = filter.unwrap_or_default();
        let scope = Scope::List(self.list.id);
        if let Ok(args) = TodosArgs::parse(first, after.as_deref(), &filter, order_by)
            && let Some(read) = self.todos_ahead.take(&args)
        {
            prefetch(ctx, read.viewer, scope, &read.page.rows)
                .boxed()
                .await?;
            let (viewer, version) = (read.viewer, read.version);
            return Ok(Box::new(TodoConnection::live(
                viewer,
                version,
                scope,
                args.filter,
                read.page,
            )));
        }
        async move {
            let user = viewer(ctx).await?;
            let input = TodosInput {
                first,
                after,
                filter,
                order_by,
            };
            todo_connection(ctx, (user.id, user.event_seq), scope, input)
                .await
                .map(Box::new)
        }
        .boxed()
        .await
    }

    async fn todo_counts(&self, ctx: &Context<'_>) -> async_graphql::Result<TodoCounts> {
        async move {
            let user = viewer(ctx).await?;
            TodoCounts::load(ctx, user.id, user.event_seq, self.list.id).await
        }
        .boxed()
        .await
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
