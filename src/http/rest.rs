//! The REST facade from todoql's origins: `/todos` and `/todos/{id}` over
//! the same todo service as GraphQL, with the same validation (the todos
//! domain parses ids, orders and patches for both). Todos are answered as
//! [`TodoView`]s. Errors are JSON `{code, message}` (and `field` for
//! invalid input, `current` for a version or merge conflict, as GraphQL's
//! `extensions.current`) with statuses 400 (malformed), 401, 404, 409, 413 (body
//! over `MAX_BODY_BYTES`, see [`super::body`]) and 422 (invalid input).
//! Writes take an `Idempotency-Key` header ([`super::rest_keys`]).

use axum::{
    Json,
    extract::{
        FromRequest, FromRequestParts, Path, RawQuery, Request, State, rejection::JsonRejection,
    },
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, de::DeserializeOwned};
use serde_json::json;
use uuid::Uuid;

use super::{body, linger::Linger};
use crate::{
    error::{ClientError, ErrorCode},
    state::AppState,
    todos::{
        TodoError,
        domain::{
            NewTodo, PageRequest, RawTodoPatch, Scope, TodoFilter, TodoOrder, TodoPatch, parse_id,
        },
        model::TodoRow,
    },
};

/// A REST error response.
#[derive(Debug)]
pub struct RestError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
    /// The error's extra entries (a conflict's `current`), as GraphQL has
    /// them in `extensions`.
    extra: Vec<(&'static str, serde_json::Value)>,
}

impl RestError {
    fn malformed(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BAD_REQUEST",
            message: message.into(),
            field: None,
            extra: Vec::new(),
        }
    }

    /// The 413 of a body over `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        let code = ErrorCode::PayloadTooLarge;
        Self {
            status: code.http_status(),
            code: code.as_str(),
            message: format!("the request body exceeds {limit} bytes"),
            field: None,
            extra: Vec::new(),
        }
    }
}

impl RestError {
    /// A refused idempotency key, with its own status (400 for a bad key,
    /// where input errors are otherwise 422).
    pub fn idempotency(error: &crate::idempotency::IdempotencyError) -> Self {
        let code = error.code();
        Self {
            status: error.status(),
            code: code.as_str(),
            message: error.client_message(),
            field: None,
            extra: Vec::new(),
        }
    }
}

impl<E: ClientError> From<E> for RestError {
    fn from(e: E) -> Self {
        let code = e.code();
        Self {
            status: code.http_status(),
            code: code.as_str(),
            message: e.client_message(),
            field: e.field(),
            extra: e.extensions(),
        }
    }
}

impl From<JsonRejection> for RestError {
    fn from(e: JsonRejection) -> Self {
        Self::malformed(e.body_text())
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            body["field"] = json!(field);
        }
        for (key, value) in self.extra {
            body[key] = value;
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            let (name, value) = super::body::connection_close();
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// A JSON body of at most `MAX_BODY_BYTES`: refused from its declared
/// length before any of it is read, or once it crosses the limit (see
/// [`super::body`]); otherwise as axum's `Json`, with its rejections as
/// `BAD_REQUEST`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = RestError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, RestError> {
        let limit = state.config.max_body_bytes;
        if body::declared_over(request.headers(), limit) {
            body::too_large(request.extensions());
            return Err(RestError::too_large(limit));
        }
        let linger = request.extensions().get::<Linger>().cloned();
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            // The `DefaultBodyLimit` of the router, set from the same value.
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                if let Some(linger) = linger {
                    linger.arm();
                }
                Err(RestError::too_large(limit))
            }
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// The authenticated caller: a valid Bearer token of an existing user
/// (with the user's data version, which keys the read cache, and the
/// user's default list: the facade knows no other list).
pub struct Caller(Uuid, i64, Uuid);

impl FromRequestParts<AppState> for Caller {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, RestError> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default());
        let credentials = state.auth.credentials(authorization);
        let user = state.auth.authenticate(&credentials).await?;
        Ok(Self(user.id, user.event_seq, user.default_list_id))
    }
}

/// A todo as the REST facade answers it: its JSON shape (these names, in
/// this order) is the facade's contract, kept apart from the Diesel row.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoView {
    id: Uuid,
    title: String,
    description: Option<String>,
    completed: bool,
    due_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i32,
}

impl From<TodoRow> for TodoView {
    fn from(row: TodoRow) -> Self {
        Self {
            id: row.id,
            title: row.title,
            description: row.description,
            completed: row.completed,
            due_at: row.due_at,
            completed_at: row.completed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// Query parameters of `GET /todos`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListParams {
    first: Option<i64>,
    after: Option<String>,
    completed: Option<bool>,
    search: Option<String>,
    due_before: Option<DateTime<Utc>>,
    due_after: Option<DateTime<Utc>>,
    order_by: Option<String>,
}

/// `GET /todos`: a page of the caller's todos.
pub async fn list(
    State(state): State<AppState>,
    Caller(owner, version, list): Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, RestError> {
    let params: ListParams = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|e| RestError::malformed(format!("query string: {e}")))?;
    let order = TodoOrder::parse(params.order_by.as_deref())?;
    let page = PageRequest::parse(params.first, params.after.as_deref(), order)?;
    let filter = TodoFilter::parse(
        params.completed,
        params.search.as_deref(),
        params.due_before,
        params.due_after,
    )?;
    let result = state
        .todos
        .list(owner, version, Scope::List(list), &filter, &page, true)
        .await?;
    let total = result.total.unwrap_or_default();
    let end_cursor = result.rows.last().map(|r| r.cursor(order).encode());
    let items: Vec<TodoView> = result.rows.into_iter().map(TodoView::from).collect();
    Ok(Json(json!({
        "items": items,
        "pageInfo": { "hasNextPage": result.has_next_page, "endCursor": end_cursor },
        "totalCount": total,
    }))
    .into_response())
}

/// Body of `POST /todos`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    title: String,
    description: Option<String>,
    due_at: Option<DateTime<Utc>>,
}

/// `POST /todos`: 201 with the new todo.
pub async fn create(
    State(state): State<AppState>,
    Caller(owner, _, list): Caller,
    body: Result<JsonBody<CreateBody>, RestError>,
) -> Result<(StatusCode, Json<TodoView>), RestError> {
    let JsonBody(body) = body?;
    let todo = NewTodo::parse(&body.title, body.description.as_deref(), body.due_at)?;
    let row = state.todos.create(owner, list, todo).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// `DELETE /todos`: deletes all of the caller's todos.
pub async fn delete_all(
    State(state): State<AppState>,
    Caller(owner, _, list): Caller,
) -> Result<Json<serde_json::Value>, RestError> {
    let deleted = state.todos.delete_many(owner, list, false).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

/// `GET /todos/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Caller(owner, _, _): Caller,
    Path(id): Path<String>,
) -> Result<Json<TodoView>, RestError> {
    Ok(Json(state.todos.get(owner, parse_id(&id)?).await?.into()))
}

/// Present-but-null becomes `Some(None)`; absent stays `None` (via `default`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PATCH /todos/{id}`: absent fields are kept, `null` clears
/// `description` or `dueAt`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    completed: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    due_at: Option<Option<DateTime<Utc>>>,
    expected_version: Option<i32>,
    base_version: Option<i32>,
}

impl PatchBody {
    fn parse(self) -> Result<TodoPatch, TodoError> {
        TodoPatch::parse(RawTodoPatch {
            title: self.title,
            description: self.description,
            completed: self.completed,
            due_at: self.due_at,
            expected_version: self.expected_version,
            base_version: self.base_version,
        })
    }
}

/// `PATCH /todos/{id}`.
pub async fn patch(
    State(state): State<AppState>,
    Caller(owner, _, _): Caller,
    Path(id): Path<String>,
    body: Result<JsonBody<PatchBody>, RestError>,
) -> Result<Json<TodoView>, RestError> {
    let id = parse_id(&id)?;
    let JsonBody(body) = body?;
    let patch = body.parse()?;
    Ok(Json(state.todos.update(owner, id, patch).await?.into()))
}

/// `DELETE /todos/{id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    Caller(owner, _, _): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, RestError> {
    state.todos.delete(owner, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
