//! Entering the list of a todo without knowing the list first: the
//! audience lock and the members of whatever list the todo is in, each in
//! a statement that finds the list itself, so a todo write can send them
//! in the same write as its `BEGIN` and its row lock (`db::pipeline`)
//! instead of reading the todo's list first. Each statement says which
//! list it found; the caller checks they agree (a concurrent move between
//! them makes them disagree, and the caller then rolls back and enters the
//! list the slow way, [`super::guard::enter`]).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::access::Role;
use crate::db::{
    Conn,
    fixed::{Fixed, FixedText},
};

/// Takes the audience lock (shared, as `model::lock_audience` does) of
/// the list live todo `todo` is in, returning that list; `None` (and no
/// lock) when there is no such todo.
pub async fn lock_of_todo(conn: &Conn, todo: Uuid) -> QueryResult<Option<Uuid>> {
    let lists: Vec<Uuid> = LockOfTodo { todo }.load(&mut { conn }).await?;
    Ok(lists.into_iter().next())
}

/// The members of the list live todo `todo` is in, as `(user, role)` in
/// user-id order, with that list (empty when there is no such todo). Sent
/// after [`lock_of_todo`] in the same write, it runs once the lock is
/// granted and reads the members as of then.
pub async fn members_of_todo(
    conn: &Conn,
    todo: Uuid,
) -> QueryResult<(Option<Uuid>, Vec<(Uuid, Role)>)> {
    let rows: Vec<(Uuid, String, Uuid)> = Fixed::<MembersOfTodo>::new(todo)
        .load(&mut { conn })
        .await?;
    let list = <[_]>::first(&rows).map(|(_, _, list)| *list);
    Ok((
        list,
        rows.into_iter()
            .map(|(user, role, _)| (user, Role::from_db(&role)))
            .collect(),
    ))
}

/// [`members_of_todo`]'s statement, a fixed text (`db::fixed`; every todo
/// write sends it).
struct MembersOfTodo;

impl FixedText for MembersOfTodo {
    type SqlType = (
        diesel::sql_types::Uuid,
        diesel::sql_types::Text,
        diesel::sql_types::Uuid,
    );
    type Binds<'a> = Uuid;

    fn walk<'b>(
        todo: &'b Uuid,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(
            "SELECT \"list_members\".\"user_id\", \"list_members\".\"role\", \
             \"list_members\".\"list_id\" FROM \"list_members\" \
             WHERE (\"list_members\".\"list_id\" = (SELECT \"todos\".\"list_id\" \
             FROM \"todos\" WHERE ((\"todos\".\"id\" = ",
        );
        out.push_bind_param::<diesel::sql_types::Uuid, _>(todo)?;
        out.push_sql(") AND (\"todos\".\"deleted_at\" IS NULL)) LIMIT ");
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&1_i64)?;
        out.push_sql(")) ORDER BY \"list_members\".\"user_id\" ASC");
        Ok(())
    }
}

/// `SELECT t.list_id FROM todos t, LATERAL pg_advisory_xact_lock_shared(…)`:
/// the key is built in SQL exactly as `model::audience_lock` builds it in
/// Rust (`list-audience:` and the list id's 32 hex digits), so both name
/// one lock; a test holds them to that. A query type rather than
/// `diesel::sql_query`, so diesel keeps it prepared (see `db::pipeline`).
struct LockOfTodo {
    todo: Uuid,
}

impl diesel::query_builder::QueryId for LockOfTodo {
    // Its text never changes: the prepared statement is found by type,
    // without hashing the text on every use.
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for LockOfTodo {
    type SqlType = diesel::sql_types::Uuid;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for LockOfTodo {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(
            "SELECT t.list_id FROM todos t CROSS JOIN LATERAL \
             pg_advisory_xact_lock_shared(hashtextextended(\
             'list-audience:' || replace(t.list_id::text, '-', ''), 0)) \
             WHERE t.deleted_at IS NULL AND t.id = ",
        );
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.todo)?;
        Ok(())
    }
}

/// The key of the audience lock of `list` as [`LockOfTodo`] builds it in
/// SQL, for the test that holds it to `model::audience_lock`.
pub async fn sql_key(conn: &Conn, list: Uuid) -> QueryResult<String> {
    diesel::select(
        diesel::dsl::sql::<diesel::sql_types::Text>("'list-audience:' || replace(")
            .bind::<diesel::sql_types::Uuid, _>(list)
            .sql("::text, '-', '')"),
    )
    .get_result(&mut { conn })
    .await
}

#[cfg(test)]
mod tests {
    use diesel::{debug_query, pg::Pg};

    use super::*;
    use crate::schema::{list_members, todos};

    #[test]
    fn the_members_of_todo_text_is_the_one_diesel_writes() {
        let todo = Uuid::from_u128(9);
        let dsl = list_members::table
            .filter(
                list_members::list_id.nullable().eq(todos::table
                    .filter(todos::id.eq(todo).and(todos::deleted_at.is_null()))
                    .select(todos::list_id)
                    .single_value()),
            )
            .select((
                list_members::user_id,
                list_members::role,
                list_members::list_id,
            ))
            .order(list_members::user_id.asc());
        assert_eq!(
            debug_query::<Pg, _>(&Fixed::<MembersOfTodo>::new(todo)).to_string(),
            debug_query::<Pg, _>(&dsl).to_string()
        );
    }
}
