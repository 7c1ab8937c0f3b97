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
    .data(options.budget)
    .limit_complexity(options.max_complexity)
    // One extension for all three concerns: each extension costs a boxed
    // future per resolved field, whether it hooks `resolve` or not.
    .extension(pipeline::Pipeline {
        telemetry: telemetry::OperationTelemetry {
            record_document: options.record_document,
            metrics: options.metrics,
        },
    });
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
