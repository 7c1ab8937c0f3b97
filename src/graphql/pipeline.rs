//! The schema's one extension: error codes for parse and validation
//! errors and for the library's own execution errors, the per-user budget
//! (charged after validation with the document's complexity), the
//! execution marker, the operation's telemetry ([`super::telemetry`]) and
//! selection order ([`super::order`]).
//!
//! One extension rather than one per concern: async-graphql runs every
//! resolved field through each extension's `resolve` hook (a boxed future
//! each, even for the default hook that only calls the next), so each
//! extension costs an allocation and a dynamic call per field of every
//! response. The hooks run the three concerns in the order the separate
//! extensions ran in: telemetry outermost (its span covers the rest and the
//! response it counts carries every error code), then error codes and the
//! budget, then selection order.

use std::sync::Arc;

use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
        NextPrepareRequest, NextRequest, NextSubscribe, NextValidation,
    },
    futures_util::stream::BoxStream,
    parser::types::ExecutableDocument,
};
use tracing::Instrument;

use super::{
    AppSchema,
    context::ExecutionMarker,
    documents::SharedDocument,
    order::SelectionOrder,
    telemetry::{Operation, OperationTelemetry},
};
use crate::{auth::Credentials, budget::Budget, error::ErrorCode};

/// The extension factory.
pub struct Pipeline {
    /// What each operation's telemetry needs.
    pub telemetry: OperationTelemetry,
}

impl ExtensionFactory for Pipeline {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PipelineExtension {
            telemetry: self.telemetry.start(),
            order: SelectionOrder::default(),
        })
    }
}

struct PipelineExtension {
    telemetry: Operation,
    order: SelectionOrder,
}

#[async_trait::async_trait]
impl Extension for PipelineExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).instrument(self.telemetry.span()).await;
        self.telemetry.finish(&response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        // Each event is ordered by `execute`, which async-graphql runs for
        // every event of a subscription too.
        self.telemetry.stream(next.run(ctx, stream))
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.telemetry.prepared(request.operation_name.clone());
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next
            .run(ctx, query, variables)
            .await
            .map_err(parse_failed)?;
        // The cached document when the request came through the cache,
        // else a copy: `reorder` needs it after execution.
        let shared = ctx
            .data_opt::<SharedDocument>()
            .map_or_else(|| Arc::new(document.clone()), |d| d.0.document.clone());
        self.order.parsed(shared, variables);
        self.telemetry.parsed(&document, query);
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await.map_err(validation_failed)?;
        if let Some(marker) = ctx.data_opt::<ExecutionMarker>() {
            marker.validated(result.complexity);
        }
        charge_budget(ctx, &result).await?;
        self.telemetry.validated();
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
        self.order.executed(&mut response, operation_name);
        code_execution_errors(&mut response);
        response
    }
}

fn with_code(mut error: ServerError, code: ErrorCode) -> ServerError {
    let ext = error.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code.as_str());
    }
    error
}

/// A parse error, with its code.
fn parse_failed(error: ServerError) -> ServerError {
    with_code(error, ErrorCode::GraphqlParseFailed)
}

/// Validation errors, with their code.
fn validation_failed(errors: Vec<ServerError>) -> Vec<ServerError> {
    errors
        .into_iter()
        .map(|e| with_code(e, ErrorCode::GraphqlValidationFailed))
        .collect()
}

/// Runs `request` on `known`, the schema without this extension, through
/// the same stages as the hooks above and in their order: telemetry
/// around the rest, the budget charged with `complexity`, the execution
/// marked, the result put in selection order and its errors coded. Only
/// for a request whose exact shape got as far as execution before
/// ([`super::shapes`]): it cannot fail validation, and costs what it did
/// then. `document` is the request's parsed document, `payer` the caller
/// whose budget pays (a valid token's user).
pub(super) async fn run_known(
    known: &AppSchema,
    telemetry: &OperationTelemetry,
    (document, complexity): (&SharedDocument, usize),
    payer: Option<uuid::Uuid>,
    marker: &ExecutionMarker,
    request: Request,
) -> Response {
    let operation = telemetry.start();
    let run = async {
        operation.prepared(request.operation_name.clone());
        let document = &document.0.document;
        operation.parsed(document, &request.query);
        let cost = cost_of(complexity);
        if let (Some(user), Some(budget)) = (payer, known.data::<Budget>())
            && let Err(refused) = charge(budget, user, cost).await
        {
            return Response::from_errors(vec![refused]);
        }
        operation.validated();
        marker.mark();
        let name = request.operation_name.clone();
        let variables = request.variables.clone();
        let mut response = known.execute(request).await;
        super::order::reorder(&mut response.data, document, name.as_deref(), &variables);
        code_execution_errors(&mut response);
        response
    };
    let response = run.instrument(operation.span()).await;
    operation.finish(&response);
    response
}

/// The budget points a document of `complexity` costs: at least one.
fn cost_of(complexity: usize) -> u64 {
    u64::try_from(complexity.max(1)).unwrap_or(u64::MAX)
}

/// Charges the caller's budget with what the validated document may cost.
async fn charge_budget(
    ctx: &ExtensionContext<'_>,
    result: &ValidationResult,
) -> Result<(), Vec<ServerError>> {
    let cost = cost_of(result.complexity);
    // A shared subscription run charges each later subscriber the same.
    crate::stream_tap::record_cost(cost);
    if let (Some(Credentials::Token(Ok(claims))), Some(budget)) =
        (ctx.data_opt::<Credentials>(), ctx.data_opt::<Budget>())
    {
        charge(budget, claims.sub, cost)
            .await
            .map_err(|e| vec![e])?;
    }
    Ok(())
}

/// Charges `user`'s budget `cost` points: `RATE_LIMITED` once spent.
pub(super) async fn charge(
    budget: &Budget,
    user: uuid::Uuid,
    cost: u64,
) -> Result<(), ServerError> {
    let Err(limited) = budget.charge(user, cost).await else {
        return Ok(());
    };
    let mut error = ServerError::new("operation budget exceeded; slow down", None);
    let ext = error.extensions.get_or_insert_with(Default::default);
    ext.set("code", ErrorCode::RateLimited.as_str());
    ext.set("retryAfter", limited.retry_after_secs());
    Err(error)
}

/// Errors raised by the library itself during execution carry no code:
/// input that failed to coerce (a malformed `DateTime`, say) is the
/// client's fault; anything else is internal and its text is not for
/// clients.
fn code_execution_errors(response: &mut Response) {
    response.errors = std::mem::take(&mut response.errors)
        .into_iter()
        .map(|mut e| {
            if e.extensions
                .as_ref()
                .is_some_and(|x| x.get("code").is_some())
            {
                return e;
            }
            if e.message.starts_with("Failed to parse") || e.message.starts_with("Invalid value") {
                with_code(e, ErrorCode::BadUserInput)
            } else {
                tracing::error!(error = %e.message, path = ?e.path, "internal error");
                e.message = "Internal server error".into();
                with_code(e, ErrorCode::InternalServerError)
            }
        })
        .collect();
}
