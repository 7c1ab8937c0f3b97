//! The GraphQL schema: merged query and mutation roots of every feature, the
//! per-request data (credentials, DataLoaders), and the one extension
//! ([`pipeline`]) that gives every error an `extensions.code`, charges the
//! per-user budget, records the operation's telemetry and keeps response
//! objects in selection order ([`order`]).

pub mod admission;
pub mod ahead;
pub mod changes;
pub mod context;
pub mod documents;
pub mod inputs;
pub mod limits;
pub mod lists;
pub mod objects;
pub mod order;
mod pipeline;
pub mod shapes;
pub mod shared;
pub mod shared_key;
pub mod summaries;
pub mod telemetry;
pub mod viewer_list;
pub mod viewer_todos;

use async_graphql::{MergedObject, Schema};

use crate::{
    auth::{
        AuthService,
        graphql::{AuthMutation, AuthQuery},
    },
    budget::Budget,
    events::{
        EventService,
        graphql::{EventQuery, SubscriptionRoot},
    },
    lists::{
        ListService,
        graphql::{ListMutation, ListQuery},
    },
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
    /// The per-user budget of complexity points.
    pub budget: Budget,
    /// Whether operation spans carry the document text (development).
    pub record_document: bool,
    /// Where the operation metrics are recorded.
    pub metrics: crate::telemetry::Metrics,
}

/// Charges `user`'s per-user budget `cost` points, as validation does for
/// every document: for a subscriber that joins a shared run ([`shared`]),
/// whose document was validated once for everyone.
pub async fn charge_budget(
    schema: &AppSchema,
    user: uuid::Uuid,
    cost: u64,
) -> Result<(), async_graphql::ServerError> {
    match schema.data::<Budget>() {
        Some(budget) => pipeline::charge(budget, user, cost).await,
        None => Ok(()),
    }
}

/// The schema twice, over the same resolvers and data.
#[derive(Clone)]
pub struct Schemas {
    /// With the extension ([`pipeline`]): every WebSocket operation, and
    /// every HTTP request whose shape did not validate before.
    pub checked: AppSchema,
    /// Without it, and with the fast validation mode: HTTP queries and
    /// mutations whose exact shape (document, operation name, variables)
    /// got as far as execution on `checked` before ([`shapes`]). The
    /// gateway runs the extension's stages around it
    /// ([`pipeline::run_known`]) and saves the hook async-graphql runs per
    /// resolved field for each extension.
    pub known: AppSchema,
    /// What each operation's telemetry needs, for the `known` runs.
    pub telemetry: telemetry::OperationTelemetry,
}

/// Builds the schemas with the services resolvers need.
pub fn build_schema(
    auth: AuthService,
    todos: TodoService,
    lists: ListService,
    events: EventService,
    options: SchemaOptions,
) -> Schemas {
    let telemetry = telemetry::OperationTelemetry {
        record_document: options.record_document,
        metrics: options.metrics.clone(),
    };
    let build = |known: bool| {
        let mut builder = Schema::build(
            QueryRoot::default(),
            MutationRoot::default(),
            SubscriptionRoot,
        )
        .data(auth.clone())
        .data(todos.clone())
        .data(lists.clone())
        .data(events.clone())
        .data(options.budget.clone())
        .limit_complexity(options.max_complexity);
        if known {
            // Only shapes that passed the full validation run here:
            // validation is left its complexity and the limits.
            builder = builder.validation_mode(async_graphql::ValidationMode::Fast);
        } else {
            // One extension for every concern: each extension costs a
            // boxed future per resolved field, whether it hooks `resolve`
            // or not.
            builder = builder.extension(pipeline::Pipeline {
                telemetry: telemetry.clone(),
            });
        }
        if !options.introspection {
            builder = builder.disable_introspection();
        }
        if !options.suggestions {
            builder = builder.disable_suggestions();
        }
        builder.finish()
    };
    Schemas {
        checked: build(false),
        known: build(true),
        telemetry,
    }
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
