//! The statements every todo write sends, with fixed texts (`db::fixed`):
//! diesel would otherwise quote a todo's 13 columns again on every write
//! (the row lock and the insert's `RETURNING`, the insert's column list).

use diesel::{
    pg::Pg,
    prelude::*,
    query_builder::AstPass,
    sql_types::{self, Nullable, Text, Timestamptz},
};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{NewTodoRow, TodoRow};
use crate::db::{
    Conn,
    fixed::{Fixed, FixedText},
};

/// A todo's columns, as diesel writes `TodoRow::as_select()`.
const TODO_COLUMNS: &str = "\"todos\".\"id\", \"todos\".\"owner_id\", \"todos\".\"title\", \
    \"todos\".\"description\", \"todos\".\"completed\", \"todos\".\"due_at\", \
    \"todos\".\"completed_at\", \"todos\".\"created_at\", \"todos\".\"updated_at\", \
    \"todos\".\"version\", \"todos\".\"list_id\", \"todos\".\"position\", \
    \"todos\".\"deleted_at\"";

/// What a row of a statement returning a [`TodoRow`] is.
type TodoRowType = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<TodoRow, Pg>>;

/// A live todo of any list, locked until the transaction ends (the
/// caller checks it is in the list whose audience it locked first).
pub async fn lock_live(mut conn: &Conn, id: Uuid) -> QueryResult<Option<TodoRow>> {
    // The id is the primary key: one row at most, no LIMIT needed.
    let rows: Vec<TodoRow> = Fixed::<LockLive>::new(id).load(&mut conn).await?;
    Ok(rows.into_iter().next())
}

/// [`lock_live`]'s statement: `live().filter(id.eq(id)).for_update()`.
struct LockLive;

impl FixedText for LockLive {
    type SqlType = TodoRowType;
    type Binds<'a> = Uuid;

    fn walk<'b>(id: &'b Uuid, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        out.push_sql(TODO_COLUMNS);
        out.push_sql(
            " FROM \"todos\" \
             WHERE ((\"todos\".\"deleted_at\" IS NULL) AND (\"todos\".\"id\" = ",
        );
        out.push_bind_param::<sql_types::Uuid, _>(id)?;
        out.push_sql(")) FOR UPDATE");
        Ok(())
    }
}

/// Inserts a todo unless its id is taken (then `None`): the id of a
/// concurrent insert is decided by the unique index, so two creations
/// with one client-chosen id never both insert.
pub async fn insert_new(mut conn: &Conn, todo: &NewTodoRow<'_>) -> QueryResult<Option<TodoRow>> {
    let rows: Vec<TodoRow> = Fixed::<InsertTodo>::new(todo).load(&mut conn).await?;
    Ok(rows.into_iter().next())
}

/// [`insert_new`]'s statement: `insert_into(todos).values(todo)
/// .on_conflict(id).do_nothing().returning(TodoRow::as_returning())`.
struct InsertTodo;

impl FixedText for InsertTodo {
    type SqlType = TodoRowType;
    type Binds<'a> = &'a NewTodoRow<'a>;

    fn walk<'b>(todo: &'b &NewTodoRow<'_>, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO \"todos\" (\"id\", \"owner_id\", \"list_id\", \"position\", \"title\", \
             \"description\", \"due_at\", \"created_at\", \"updated_at\") VALUES (",
        );
        out.push_bind_param::<sql_types::Uuid, _>(&todo.id)?;
        out.push_sql(", ");
        out.push_bind_param::<sql_types::Uuid, _>(&todo.owner_id)?;
        out.push_sql(", ");
        out.push_bind_param::<sql_types::Uuid, _>(&todo.list_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(todo.position)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(todo.title)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&todo.description)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Timestamptz>, _>(&todo.due_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&todo.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&todo.updated_at)?;
        out.push_sql(") ON CONFLICT (\"id\") DO NOTHING RETURNING ");
        out.push_sql(TODO_COLUMNS);
        Ok(())
    }
}

/// The first position key of `list` (new todos go before it).
pub async fn first_position(mut conn: &Conn, list: Uuid) -> QueryResult<Option<String>> {
    Fixed::<FirstPosition>::new(list)
        .get_result(&mut conn)
        .await
}

/// [`first_position`]'s statement: `live().filter(list_id.eq(list))
/// .select(min(position))` (an aggregate: always one row).
struct FirstPosition;

impl FixedText for FirstPosition {
    type SqlType = Nullable<Text>;
    type Binds<'a> = Uuid;

    fn walk<'b>(list: &'b Uuid, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT min(\"todos\".\"position\") FROM \"todos\" \
             WHERE ((\"todos\".\"deleted_at\" IS NULL) AND (\"todos\".\"list_id\" = ",
        );
        out.push_bind_param::<sql_types::Uuid, _>(list)?;
        out.push_sql("))");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use diesel::debug_query;

    use super::*;
    use crate::{schema::todos, todos::model::live};

    #[test]
    fn the_row_lock_text_is_the_one_diesel_writes() {
        let id = Uuid::from_u128(7);
        let dsl = live()
            .filter(todos::id.eq(id))
            .select(TodoRow::as_select())
            .for_update();
        assert_eq!(
            debug_query::<Pg, _>(&Fixed::<LockLive>::new(id)).to_string(),
            debug_query::<Pg, _>(&dsl).to_string()
        );
    }

    #[test]
    fn the_insert_text_is_the_one_diesel_writes() {
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
        // With and without the optional columns: both are bound (as NULL
        // when absent), never written as DEFAULT.
        for (description, due_at) in [(Some("notes"), Some(at)), (None, None)] {
            let new = NewTodoRow {
                id: Uuid::from_u128(1),
                owner_id: Uuid::from_u128(2),
                list_id: Uuid::from_u128(3),
                position: "a0",
                title: "Buy milk",
                description,
                due_at,
                created_at: at,
                updated_at: at,
            };
            let dsl = diesel::insert_into(todos::table)
                .values(&new)
                .on_conflict(todos::id)
                .do_nothing()
                .returning(TodoRow::as_returning());
            assert_eq!(
                debug_query::<Pg, _>(&Fixed::<InsertTodo>::new(&new)).to_string(),
                debug_query::<Pg, _>(&dsl).to_string()
            );
        }
    }

    #[test]
    fn the_first_position_text_is_the_one_diesel_writes() {
        let list = Uuid::from_u128(3);
        let dsl = live()
            .filter(todos::list_id.eq(list))
            .select(diesel::dsl::min(todos::position));
        assert_eq!(
            debug_query::<Pg, _>(&Fixed::<FirstPosition>::new(list)).to_string(),
            debug_query::<Pg, _>(&dsl).to_string()
        );
    }
}
