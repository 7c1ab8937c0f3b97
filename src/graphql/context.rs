//! What every resolver may need from its request, whatever the feature:
//! the caller's [`Credentials`] and address, the signed-in user
//! ([`viewer`]), users by id through the request's DataLoader
//! ([`load_user`]), the request's DataLoaders ([`Loaders`], [`prefetch`]
//! for a page of todos), and the marker the transports read to tell a
//! request error from an executed operation. The transports fill it in through
//! [`prepare_request`]; features' GraphQL layers read it.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use async_graphql::{Context, Request};
use uuid::Uuid;

use crate::{
    auth::{
        AuthError, AuthService, Credentials,
        credentials::signed_in,
        loader::{UserDataLoader, user_data_loader},
        model::User,
    },
    error::log_internal,
    error::{ErrorCode, GqlResultExt, coded},
    lists::{
        ListService,
        loader::{ListDataLoader, list_data_loader},
    },
    todos::{domain::Scope, model::TodoRow},
};

/// The client's address (after trusted proxies), for rate limits.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Set once execution starts: a response whose request never got that far
/// (parse, validation, operation selection or variable errors) is a
/// "request error" and, per GraphQL over HTTP, has no `data` key. It also
/// carries the complexity validation gave the document, so the gateway can
/// remember the request's shape ([`super::shapes`]).
#[derive(Clone, Default)]
pub struct ExecutionMarker(Arc<Marks>);

#[derive(Default)]
struct Marks {
    executed: AtomicBool,
    /// The complexity plus one; 0 until validation passed.
    validated: AtomicUsize,
}

impl ExecutionMarker {
    /// Whether execution started.
    pub fn executed(&self) -> bool {
        self.0.executed.load(Ordering::Relaxed)
    }

    /// Records that execution started.
    pub fn mark(&self) {
        self.0.executed.store(true, Ordering::Relaxed);
    }

    /// Records that validation passed, with this complexity.
    pub fn validated(&self, complexity: usize) {
        self.0
            .validated
            .store(complexity.saturating_add(1), Ordering::Relaxed);
    }

    /// The complexity validation gave, once it passed.
    pub fn complexity(&self) -> Option<usize> {
        self.0.validated.load(Ordering::Relaxed).checked_sub(1)
    }
}

/// Adds the per-request data resolvers rely on: the caller's credentials
/// and address, fresh user and list DataLoaders (their caches must not
/// outlive the request) and the execution marker. `serial`: the operation
/// is a mutation, whose fields run one after the other (see
/// [`UserDataLoader::viewer`]).
pub fn prepare_request(
    request: Request,
    services: (&AuthService, &ListService),
    credentials: Credentials,
    client: ClientAddr,
    marker: ExecutionMarker,
    serial: bool,
) -> Request {
    request
        .data(credentials)
        .data(client)
        .data(user_data_loader(services.0.clone(), serial))
        .data(list_data_loader(services.1.clone()))
        .data(marker)
}

/// The signed-in user, or `UNAUTHENTICATED`. The token's user must still
/// exist; the lookup goes through the request's DataLoader, so it costs one
/// query per request at most and warms the cache for `Todo.owner`.
pub async fn viewer(ctx: &Context<'_>) -> async_graphql::Result<User> {
    current_user(ctx).await.gql()
}

async fn current_user(ctx: &Context<'_>) -> Result<User, AuthError> {
    let credentials = ctx
        .data_opt::<Credentials>()
        .unwrap_or(&Credentials::Anonymous);
    let claims = credentials.claims()?;
    let loader = ctx
        .data::<UserDataLoader>()
        .map_err(|e| AuthError::Internal(e.message))?;
    let row = loader
        .viewer(claims.sub)
        .await
        .map_err(|e| AuthError::Internal(e.to_string()))?;
    signed_in(credentials, row).map(Arc::unwrap_or_clone)
}

/// The signed-in caller's id as its token says, before the user row is
/// read (`None` without valid credentials: [`viewer`] then answers why).
pub fn viewer_id(ctx: &Context<'_>) -> Option<Uuid> {
    ctx.data_opt::<Credentials>()
        .and_then(|c| c.claims().ok())
        .map(|claims| claims.sub)
}

/// The caller's id for a write that checks access itself: its access
/// check reads the caller's membership, which a deleted account no longer
/// has, so the write finds nothing and [`caller_gone`] tells why. The
/// caller's row is then not read before the write (one round trip less on
/// every such write). Without valid credentials: the error [`viewer`] gives.
pub async fn writer_id(ctx: &Context<'_>) -> async_graphql::Result<Uuid> {
    match viewer_id(ctx) {
        Some(id) => Ok(id),
        None => viewer(ctx).await.map(|user| user.id),
    }
}

/// After a write by [`writer_id`] found nothing: `UNAUTHENTICATED` when the
/// caller's account is gone (deleted since its token was signed), as
/// [`viewer`] would have answered before the write; `Ok` when it exists
/// (the write's own `NOT_FOUND` stands).
pub async fn caller_gone(ctx: &Context<'_>) -> async_graphql::Result<()> {
    viewer(ctx).await.map(drop)
}

/// The request's viewer from `row`, the caller's own read of
/// [`viewer_id`]'s row (pipelined with its other statements, e.g.
/// `TodoService::list_with`): checked as [`viewer`] checks it, then primed
/// into the request's user DataLoader, so [`viewer`] and [`load_user`]
/// answer it without a query of their own.
pub async fn adopt_viewer(
    ctx: &Context<'_>,
    row: Result<Option<User>, AuthError>,
) -> async_graphql::Result<User> {
    let credentials = ctx
        .data_opt::<Credentials>()
        .unwrap_or(&Credentials::Anonymous);
    let user = row.and_then(|row| signed_in(credentials, row)).gql()?;
    if let Ok(loader) = ctx.data::<UserDataLoader>() {
        loader.feed_one(user.clone());
    }
    Ok(user)
}

/// The request's DataLoaders, detached from its context: what a
/// subscription keeps to forget, before each event, what it loaded for the
/// last one (a user row's data version, memberships), so every event's
/// fields read current data.
#[derive(Clone)]
pub struct Loaders {
    users: Option<UserDataLoader>,
    lists: Option<ListDataLoader>,
}

impl Loaders {
    /// The request's loaders.
    pub fn of(ctx: &Context<'_>) -> Self {
        Self {
            users: ctx.data::<UserDataLoader>().ok().cloned(),
            lists: ctx.data::<ListDataLoader>().ok().cloned(),
        }
    }

    /// Forgets everything loaded so far.
    pub fn clear(&self) {
        if let Some(loader) = &self.users {
            loader.clear();
        }
        if let Some(loader) = &self.lists {
            loader.clear::<(Uuid, Uuid)>();
            loader.clear::<Uuid>();
        }
    }
}

/// After a write: the user rows this request loaded carry the old data
/// version, and the memberships it loaded may be stale, so later fields of
/// the same request (`createTodo { owner { todoCounts } }`, a second
/// mutation) must load them again.
pub fn changed_data(ctx: &Context<'_>) {
    Loaders::of(ctx).clear();
}

/// The client's address (unspecified when the transport gave none).
pub fn client_ip(ctx: &Context<'_>) -> std::net::IpAddr {
    ctx.data_opt::<ClientAddr>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0)
}

/// The user with this id, through the request's DataLoader.
pub async fn load_user(ctx: &Context<'_>, id: Uuid) -> async_graphql::Result<Arc<User>> {
    let loader = ctx.data::<UserDataLoader>()?;
    match loader.load_one(id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(coded(ErrorCode::NotFound, "user not found")),
        Err(e) => {
            crate::error::log_internal(e.as_ref());
            Err(coded(
                ErrorCode::InternalServerError,
                "Internal server error",
            ))
        }
    }
}

/// Loads, in one batch each, what the page's nodes will ask the request's
/// DataLoaders for (`list`: memberships, for a page across lists;
/// `owner`/`createdBy`: users). Left to the nodes, the loads arrive over
/// time and the DataLoader's delay window may cut them into several
/// batches (several queries) on a busy server.
pub async fn prefetch(
    ctx: &Context<'_>,
    viewer: Uuid,
    scope: Scope,
    rows: &[TodoRow],
) -> async_graphql::Result<()> {
    let look = ctx.look_ahead();
    let selects = |field: &str| {
        look.field("nodes").field(field).exists()
            || look.field("edges").field("node").field(field).exists()
    };
    let internal = |e: &(dyn std::error::Error + Send + Sync + 'static)| {
        log_internal(e);
        coded(ErrorCode::InternalServerError, "Internal server error")
    };
    if matches!(scope, Scope::MemberOf(_)) && selects("list") {
        let mut keys: Vec<(Uuid, Uuid)> = rows.iter().map(|r| (viewer, r.list_id)).collect();
        keys.sort_unstable();
        keys.dedup();
        ctx.data::<ListDataLoader>()?
            .load_many(keys)
            .await
            .map_err(|e| internal(e.as_ref()))?;
    }
    if selects("owner") || selects("createdBy") {
        let mut ids: Vec<Uuid> = rows.iter().map(|r| r.owner_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ctx.data::<UserDataLoader>()?
            .load_many(ids)
            .await
            .map_err(|e| internal(e.as_ref()))?;
    }
    Ok(())
}
