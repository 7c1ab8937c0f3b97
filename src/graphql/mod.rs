//! The GraphQL schema: merged query and mutation roots of every feature, the
//! per-request data (credentials, DataLoaders), an extension that gives
//! every error an `extensions.code` and one that keeps response objects in
//! selection order ([`order`]).

pub mod admission;
pub mod changes;
pub mod context;
pub mod inputs;
pub mod limits;
pub mod lists;
pub mod objects;
pub mod order;
pub mod telemetry;
pub mod viewer_todos;

use std::sync::Arc;

use async_graphql::{
    MergedObject, Response, Schema, ServerError, ServerResult, ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
    },
    parser::types::ExecutableDocument,
};

use crate::error::ErrorCode;
use crate::{
    auth::{
        AuthService, Credentials,
        graphql::{AuthMutation, AuthQuery},
    },
    events::{
        EventService,
        graphql::{EventQuery, SubscriptionRoot},
    },
    lists::{
        ListService,
        graphql::{ListMutation, ListQuery},
    },
    rate_limit::RateLimiter,
    todos::{
        TodoService,
        graphql::{TodoMutation, TodoQuery, TrashMutation, TrashQuery},
    },
};
pub use context::{ClientAddr, ExecutionMarker, prepare_request};

/// Every query field.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(AuthQuery, TodoQuery, ListQuery, TrashQuery, EventQuery);

/// Every mutation field.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(AuthMutation, TodoMutation, ListMutation, TrashMutation);

/// The todoql schema.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// How the schema guards itself.
pub struct SchemaOptions {
    /// Highest complexity score a document may have.
    pub max_complexity: usize,
    /// Whether introspection is allowed.
    pub introspection: bool,
    /// Whether "Did you mean …" suggestions appear in validation errors.
    pub suggestions: bool,
    /// Counters for the per-user budget.
    pub limiter: RateLimiter,
    /// Complexity points each user may spend per minute.
    pub budget_per_minute: u64,
    /// Whether operation spans carry the document text (development).
    pub record_document: bool,
    /// Where the operation metrics are recorded.
    pub metrics: crate::telemetry::Metrics,
}

/// The per-user operation budget, charged with each document's complexity.
struct UserBudget {
    limiter: RateLimiter,
    per_minute: u64,
}

/// Builds the schema with the services resolvers need.
pub fn build_schema(
    auth: AuthService,
    todos: TodoService,
    lists: ListService,
    events: EventService,
    options: SchemaOptions,
) -> AppSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .data(auth)
    .data(todos)
    .data(lists)
    .data(events)
    .data(UserBudget {
        limiter: options.limiter,
        per_minute: options.budget_per_minute,
    })
    .limit_complexity(options.max_complexity)
    // Outermost, so the span covers the other extensions' work and the
    // response it sees already carries every error code.
    .extension(telemetry::OperationTelemetry {
        record_document: options.record_document,
        metrics: options.metrics,
    })
    .extension(ErrorCodes)
    .extension(order::SelectionOrder);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    if !options.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
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
        let result = next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| with_code(e, ErrorCode::GraphqlValidationFailed))
                .collect::<Vec<_>>()
        })?;
        // Charge the caller's budget with what the document may cost.
        if let (Some(Credentials::Token(Ok(claims))), Some(budget)) =
            (ctx.data_opt::<Credentials>(), ctx.data_opt::<UserBudget>())
        {
            let cost = u64::try_from(result.complexity.max(1)).unwrap_or(u64::MAX);
            let key = format!("budget:{}", claims.sub);
            if let Err(limited) = budget
                .limiter
                .check(
                    &key,
                    cost,
                    budget.per_minute,
                    std::time::Duration::from_secs(60),
                )
                .await
            {
                let mut error = ServerError::new("operation budget exceeded; slow down", None);
                let ext = error.extensions.get_or_insert_with(Default::default);
                ext.set("code", ErrorCode::RateLimited.as_str());
                ext.set("retryAfter", limited.retry_after_secs());
                return Err(vec![error]);
            }
        }
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(marker) = ctx.data_opt::<ExecutionMarker>() {
            marker.mark();
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
