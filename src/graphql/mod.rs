//! The GraphQL schema: merged query and mutation roots of every feature, the
//! per-request data (credentials, DataLoaders) and an extension that gives
//! every error an `extensions.code`.

pub mod error;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::{
    MergedObject, Request, Response, Schema, ServerError, ServerResult, ValidationResult,
    Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
    },
    parser::types::ExecutableDocument,
};

use crate::{
    auth::{
        AuthService,
        graphql::{AuthMutation, AuthQuery, Credentials},
        loader::user_data_loader,
    },
    events::{EventService, graphql::SubscriptionRoot},
    todos::{
        TodoService,
        graphql::{TodoMutation, TodoQuery},
    },
};
use error::ErrorCode;

/// Every query field.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(AuthQuery, TodoQuery);

/// Every mutation field.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(AuthMutation, TodoMutation);

/// The todoql schema.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Builds the schema with the services resolvers need.
pub fn build_schema(auth: AuthService, todos: TodoService, events: EventService) -> AppSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .data(auth)
    .data(todos)
    .data(events)
    .extension(ErrorCodes)
    .finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .finish()
    .sdl()
}

/// Set once execution starts: a response whose request never got that far
/// (parse, validation, operation selection or variable errors) is a
/// "request error" and, per GraphQL over HTTP, has no `data` key.
#[derive(Clone, Default)]
pub struct ExecutionMarker(Arc<AtomicBool>);

impl ExecutionMarker {
    /// Whether execution started.
    pub fn executed(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Adds the per-request data resolvers rely on: the caller's credentials, a
/// fresh user DataLoader (its cache must not outlive the request) and the
/// execution marker.
pub fn prepare_request(
    request: Request,
    auth: &AuthService,
    credentials: Credentials,
    marker: ExecutionMarker,
) -> Request {
    request
        .data(credentials)
        .data(user_data_loader(auth.clone()))
        .data(marker)
}

/// Tags parse and validation errors with their codes and marks execution.
struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

fn with_code(mut error: ServerError, code: ErrorCode) -> ServerError {
    let ext = error.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code.as_str());
    }
    error
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, ErrorCode::GraphqlParseFailed))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| with_code(e, ErrorCode::GraphqlValidationFailed))
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(marker) = ctx.data_opt::<ExecutionMarker>() {
            marker.0.store(true, Ordering::Relaxed);
        }
        let mut response = next.run(ctx, operation_name).await;
        // Errors raised by the library itself during execution carry no
        // code: input that failed to coerce (a malformed `DateTime`, say) is
        // the client's fault; anything else is internal and its text is not
        // for clients.
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|mut e| {
                if e.extensions
                    .as_ref()
                    .is_some_and(|x| x.get("code").is_some())
                {
                    return e;
                }
                if e.message.starts_with("Failed to parse")
                    || e.message.starts_with("Invalid value")
                {
                    with_code(e, ErrorCode::BadUserInput)
                } else {
                    tracing::error!(error = %e.message, path = ?e.path, "internal error");
                    e.message = "Internal server error".into();
                    with_code(e, ErrorCode::InternalServerError)
                }
            })
            .collect();
        response
    }
}
