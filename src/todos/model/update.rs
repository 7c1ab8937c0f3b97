//! `updateTodo`'s `UPDATE`, as one statement diesel keeps prepared.
//!
//! diesel never caches the prepared form of an `UPDATE` it builds (nor of
//! a changeset whose columns depend on which fields are set), so each
//! would be prepared anew: a round trip of its own before the statement,
//! and one that stalls a pipeline (`db::pipeline`). This text is fixed:
//! every column is written, and a field version that did not change is
//! written as itself (`coalesce(NULL, column)`).

use diesel::{
    pg::Pg,
    prelude::*,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    sql_types::{Bool, Integer, Nullable, Text, Timestamptz},
};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{FieldVersionChanges, TodoChanges, TodoRow};
use crate::db::Conn;

/// Writes a todo's new state, and the new version of the fields that
/// changed (`None` leaves a field's version as it is).
pub async fn update(
    mut conn: &Conn,
    id: Uuid,
    changes: &TodoChanges<'_>,
    versions: &FieldVersionChanges,
) -> QueryResult<TodoRow> {
    UpdateTodo {
        id,
        changes,
        versions,
        returning: TodoRow::as_select(),
    }
    .get_result(&mut conn)
    .await
}

/// The statement of [`update`].
struct UpdateTodo<'a, 'b> {
    id: Uuid,
    changes: &'a TodoChanges<'b>,
    versions: &'a FieldVersionChanges,
    /// The `RETURNING` list (every column of a [`TodoRow`]).
    returning: diesel::dsl::AsSelect<TodoRow, Pg>,
}

/// [`UpdateTodo`]'s query id: its text never changes, so diesel finds the
/// prepared statement by this type rather than by hashing the text on
/// every use.
struct UpdateTodoText;

impl QueryId for UpdateTodo<'_, '_> {
    type QueryId = UpdateTodoText;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for UpdateTodo<'_, '_> {
    type SqlType = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<TodoRow, Pg>>;
}

impl QueryFragment<Pg> for UpdateTodo<'_, '_> {
    fn walk_ast<'q>(&'q self, mut out: AstPass<'_, 'q, Pg>) -> QueryResult<()> {
        let c = self.changes;
        let v = self.versions;
        out.push_sql("UPDATE \"todos\" SET \"title\" = ");
        out.push_bind_param::<Text, _>(c.title)?;
        out.push_sql(", \"description\" = ");
        out.push_bind_param::<Nullable<Text>, _>(&c.description)?;
        out.push_sql(", \"completed\" = ");
        out.push_bind_param::<Bool, _>(&c.completed)?;
        out.push_sql(", \"due_at\" = ");
        out.push_bind_param::<Nullable<Timestamptz>, _>(&c.due_at)?;
        out.push_sql(", \"completed_at\" = ");
        out.push_bind_param::<Nullable<Timestamptz>, _>(&c.completed_at)?;
        out.push_sql(", \"updated_at\" = ");
        out.push_bind_param::<Timestamptz, _>(&c.updated_at)?;
        out.push_sql(", \"version\" = ");
        out.push_bind_param::<Integer, _>(&c.version)?;
        for (column, version) in [
            ("title_version", &v.title_version),
            ("description_version", &v.description_version),
            ("completed_version", &v.completed_version),
            ("due_at_version", &v.due_at_version),
        ] {
            out.push_sql(", \"");
            out.push_sql(column);
            out.push_sql("\" = coalesce(");
            out.push_bind_param::<Nullable<Integer>, _>(version)?;
            out.push_sql(", \"");
            out.push_sql(column);
            out.push_sql("\")");
        }
        out.push_sql(" WHERE \"todos\".\"deleted_at\" IS NULL AND \"todos\".\"id\" = ");
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.id)?;
        out.push_sql(" RETURNING ");
        self.returning.walk_ast(out.reborrow())?;
        Ok(())
    }
}
