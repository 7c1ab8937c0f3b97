//! The REST facade from todoql's origins: `/todos` and `/todos/{id}` over
//! the same todo service as GraphQL, with the same validation. Errors are
//! JSON `{code, message}` (and `field` for invalid input) with statuses
//! 400 (malformed), 401, 404, 409, 413 (body over `MAX_BODY_BYTES`, see
//! [`super::body`]) and 422 (invalid input).

use axum::{
    Json,
    extract::{
        FromRequest, FromRequestParts, Path, RawQuery, Request, State, rejection::JsonRejection,
    },
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::json;
use uuid::Uuid;

use super::{body, linger::Linger};
use crate::{
    error::{ClientError, ErrorCode},
    state::AppState,
    todos::{
        TodoError,
        domain::{
            Description, NewTodo, PageRequest, Patch, Title, TodoFilter, TodoOrder, TodoPatch,
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
}

impl RestError {
    fn malformed(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BAD_REQUEST",
            message: message.into(),
            field: None,
        }
    }

    fn too_large(limit: usize) -> Self {
        let code = ErrorCode::PayloadTooLarge;
        Self {
            status: code.http_status(),
            code: code.as_str(),
            message: format!("the request body exceeds {limit} bytes"),
            field: None,
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
/// (with the user's data version, which keys the read cache).
pub struct Caller(Uuid, i64);

impl FromRequestParts<AppState> for Caller {
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, RestError> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default());
        let credentials = state.auth.credentials(authorization);
        let user = state.auth.authenticate(&credentials).await?;
        Ok(Self(user.id, user.event_seq))
    }
}

fn todo_id(raw: &str) -> Result<Uuid, RestError> {
    Uuid::try_parse(raw).map_err(|_| TodoError::NotFound.into())
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

fn parse_order(raw: Option<&str>) -> Result<TodoOrder, RestError> {
    match raw.unwrap_or("CREATED_AT_DESC") {
        "CREATED_AT_DESC" => Ok(TodoOrder::CreatedAtDesc),
        "CREATED_AT_ASC" => Ok(TodoOrder::CreatedAtAsc),
        "DUE_AT_ASC" => Ok(TodoOrder::DueAtAsc),
        "UPDATED_AT_DESC" => Ok(TodoOrder::UpdatedAtDesc),
        _ => Err(TodoError::invalid(
            "orderBy",
            "must be CREATED_AT_DESC, CREATED_AT_ASC, DUE_AT_ASC or UPDATED_AT_DESC",
        )
        .into()),
    }
}

/// `GET /todos`: a page of the caller's todos.
pub async fn list(
    State(state): State<AppState>,
    Caller(owner, version): Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, RestError> {
    let params: ListParams = serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
        .map_err(|e| RestError::malformed(format!("query string: {e}")))?;
    let order = parse_order(params.order_by.as_deref())?;
    let page = PageRequest::parse(params.first, params.after.as_deref(), order)?;
    let filter = TodoFilter::parse(
        params.completed,
        params.search.as_deref(),
        params.due_before,
        params.due_after,
    )?;
    let result = state
        .todos
        .list(owner, version, &filter, &page, true)
        .await?;
    let total = result.total.unwrap_or_default();
    let end_cursor = result.rows.last().map(|r| r.cursor(order).encode());
    Ok(Json(json!({
        "items": result.rows,
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
    Caller(owner, _): Caller,
    body: Result<JsonBody<CreateBody>, RestError>,
) -> Result<(StatusCode, Json<TodoRow>), RestError> {
    let JsonBody(body) = body?;
    let todo = NewTodo::parse(&body.title, body.description.as_deref(), body.due_at)?;
    let row = state.todos.create(owner, todo).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// `DELETE /todos`: deletes all of the caller's todos.
pub async fn delete_all(
    State(state): State<AppState>,
    Caller(owner, _): Caller,
) -> Result<Json<serde_json::Value>, RestError> {
    let deleted = state.todos.delete_many(owner, false).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

/// `GET /todos/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Caller(owner, _): Caller,
    Path(id): Path<String>,
) -> Result<Json<TodoRow>, RestError> {
    Ok(Json(state.todos.get(owner, todo_id(&id)?).await?))
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
}

impl PatchBody {
    fn parse(self) -> Result<TodoPatch, TodoError> {
        let required = |field: &'static str| TodoError::invalid(field, "cannot be null");
        Ok(TodoPatch {
            title: match self.title {
                None => Patch::Keep,
                Some(None) => return Err(required("title")),
                Some(Some(t)) => Patch::Set(Title::parse(&t)?),
            },
            description: match self.description {
                None => Patch::Keep,
                Some(d) => Patch::Set(d.as_deref().map(Description::parse).transpose()?),
            },
            completed: match self.completed {
                None => Patch::Keep,
                Some(None) => return Err(required("completed")),
                Some(Some(c)) => Patch::Set(c),
            },
            due_at: self.due_at.map_or(Patch::Keep, Patch::Set),
            expected_version: self.expected_version,
        })
    }
}

/// `PATCH /todos/{id}`.
pub async fn patch(
    State(state): State<AppState>,
    Caller(owner, _): Caller,
    Path(id): Path<String>,
    body: Result<JsonBody<PatchBody>, RestError>,
) -> Result<Json<TodoRow>, RestError> {
    let id = todo_id(&id)?;
    let JsonBody(body) = body?;
    let patch = body.parse()?;
    Ok(Json(state.todos.update(owner, id, patch).await?))
}

/// `DELETE /todos/{id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    Caller(owner, _): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, RestError> {
    state.todos.delete(owner, todo_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
