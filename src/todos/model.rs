//! Diesel rows and queries for todos. Every query is scoped by owner, so a
//! todo of another user is indistinguishable from a missing one.

use chrono::{DateTime, Utc};
use diesel::{dsl::sql, pg::Pg, prelude::*, sql_types::BigInt};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{
    cursor::Cursor,
    domain::{PageRequest, TodoFilter, TodoOrder},
};
use crate::{db::Conn, schema::todos};

/// A todo row.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = todos, check_for_backend(diesel::pg::Pg))]
pub struct TodoRow {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub owner_id: Uuid,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Completed.
    pub completed: bool,
    /// Due time.
    pub due_at: Option<DateTime<Utc>>,
    /// Completion time.
    pub completed_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Version.
    pub version: i32,
}

impl TodoRow {
    /// The cursor pointing just after this row in `order`.
    pub fn cursor(&self, order: TodoOrder) -> Cursor {
        let key = match order {
            TodoOrder::CreatedAtDesc | TodoOrder::CreatedAtAsc => Some(self.created_at),
            TodoOrder::UpdatedAtDesc => Some(self.updated_at),
            TodoOrder::DueAtAsc => self.due_at,
        };
        Cursor {
            order,
            key,
            id: self.id,
        }
    }
}

/// A todo to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = todos)]
pub struct NewTodoRow<'a> {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Owner.
    pub owner_id: Uuid,
    /// Title.
    pub title: &'a str,
    /// Description.
    pub description: Option<&'a str>,
    /// Due time.
    pub due_at: Option<DateTime<Utc>>,
    /// Created (also the first `updated_at`).
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The full new state of an updated todo (every column is written).
#[derive(Debug, AsChangeset)]
#[diesel(table_name = todos, treat_none_as_null = true)]
pub struct TodoChanges<'a> {
    /// Title.
    pub title: &'a str,
    /// Description.
    pub description: Option<&'a str>,
    /// Completed.
    pub completed: bool,
    /// Due time.
    pub due_at: Option<DateTime<Utc>>,
    /// Completion time.
    pub completed_at: Option<DateTime<Utc>>,
    /// Change time.
    pub updated_at: DateTime<Utc>,
    /// New version.
    pub version: i32,
}

/// Inserts a todo.
pub async fn insert(conn: &mut Conn, todo: &NewTodoRow<'_>) -> QueryResult<TodoRow> {
    diesel::insert_into(todos::table)
        .values(todo)
        .returning(TodoRow::as_returning())
        .get_result(conn)
        .await
}

/// One of `owner`'s todos.
pub async fn find_owned(conn: &mut Conn, owner: Uuid, id: Uuid) -> QueryResult<Option<TodoRow>> {
    todos::table
        .filter(todos::id.eq(id).and(todos::owner_id.eq(owner)))
        .select(TodoRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// One of `owner`'s todos, locked until the transaction ends.
pub async fn lock_owned(conn: &mut Conn, owner: Uuid, id: Uuid) -> QueryResult<Option<TodoRow>> {
    todos::table
        .filter(todos::id.eq(id).and(todos::owner_id.eq(owner)))
        .select(TodoRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Writes a todo's new state.
pub async fn update(conn: &mut Conn, id: Uuid, changes: &TodoChanges<'_>) -> QueryResult<TodoRow> {
    diesel::update(todos::table.find(id))
        .set(changes)
        .returning(TodoRow::as_returning())
        .get_result(conn)
        .await
}

/// Deletes one of `owner`'s todos, returning it.
pub async fn delete_owned(conn: &mut Conn, owner: Uuid, id: Uuid) -> QueryResult<Option<TodoRow>> {
    diesel::delete(todos::table.filter(todos::id.eq(id).and(todos::owner_id.eq(owner))))
        .returning(TodoRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Marks every one of `owner`'s todos not already so as `completed`,
/// returning the changed rows.
pub async fn set_all_completed(
    conn: &mut Conn,
    owner: Uuid,
    completed: bool,
    now: DateTime<Utc>,
) -> QueryResult<Vec<TodoRow>> {
    diesel::update(
        todos::table.filter(
            todos::owner_id
                .eq(owner)
                .and(todos::completed.ne(completed)),
        ),
    )
    .set((
        todos::completed.eq(completed),
        todos::completed_at.eq(completed.then_some(now)),
        todos::updated_at.eq(now),
        todos::version.eq(todos::version + 1),
    ))
    .returning(TodoRow::as_returning())
    .get_results(conn)
    .await
}

/// Deletes `owner`'s todos (only the completed ones when `only_completed`),
/// returning them.
pub async fn delete_many(
    conn: &mut Conn,
    owner: Uuid,
    only_completed: bool,
) -> QueryResult<Vec<TodoRow>> {
    let mut query = diesel::delete(todos::table)
        .filter(todos::owner_id.eq(owner))
        .into_boxed();
    if only_completed {
        query = query.filter(todos::completed.eq(true));
    }
    query
        .returning(TodoRow::as_returning())
        .get_results(conn)
        .await
}

/// `owner`'s todos matching `filter`, as a boxed query to add to.
fn filtered<'a>(owner: Uuid, filter: &'a TodoFilter) -> todos::BoxedQuery<'a, Pg> {
    let mut query = todos::table.filter(todos::owner_id.eq(owner)).into_boxed();
    if let Some(completed) = filter.completed {
        query = query.filter(todos::completed.eq(completed));
    }
    if let Some(search) = &filter.search {
        let pattern = format!("%{}%", escape_like(search));
        query = query.filter(
            todos::title
                .ilike(pattern.clone())
                .or(todos::description.ilike(pattern)),
        );
    }
    if let Some(before) = filter.due_before {
        query = query.filter(todos::due_at.lt(before));
    }
    if let Some(after) = filter.due_after {
        query = query.filter(todos::due_at.gt(after));
    }
    query
}

/// Escapes LIKE wildcards so a search matches the text literally.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One page of `owner`'s todos: up to `first + 1` rows (the extra one tells
/// whether there is a next page), strictly after the cursor, by keyset.
pub async fn list_page(
    conn: &mut Conn,
    owner: Uuid,
    filter: &TodoFilter,
    page: &PageRequest,
) -> QueryResult<Vec<TodoRow>> {
    use todos::{created_at, due_at, id, updated_at};
    let mut query = filtered(owner, filter);
    let after = page.after.as_ref();
    query = match page.order {
        TodoOrder::CreatedAtDesc => {
            if let Some(Cursor {
                key: Some(k),
                id: i,
                ..
            }) = after
            {
                query = query.filter(created_at.lt(k).or(created_at.eq(k).and(id.lt(i))));
            }
            query.order((created_at.desc(), id.desc()))
        }
        TodoOrder::CreatedAtAsc => {
            if let Some(Cursor {
                key: Some(k),
                id: i,
                ..
            }) = after
            {
                query = query.filter(created_at.gt(k).or(created_at.eq(k).and(id.gt(i))));
            }
            query.order((created_at.asc(), id.asc()))
        }
        TodoOrder::UpdatedAtDesc => {
            if let Some(Cursor {
                key: Some(k),
                id: i,
                ..
            }) = after
            {
                query = query.filter(updated_at.lt(k).or(updated_at.eq(k).and(id.lt(i))));
            }
            query.order((updated_at.desc(), id.desc()))
        }
        TodoOrder::DueAtAsc => {
            // Todos without a due time come last, ordered by id.
            match after {
                Some(Cursor {
                    key: Some(k),
                    id: i,
                    ..
                }) => {
                    query = query.filter(
                        due_at
                            .gt(k)
                            .or(due_at.eq(k).and(id.gt(i)))
                            .or(due_at.is_null()),
                    );
                }
                Some(Cursor {
                    key: None, id: i, ..
                }) => {
                    query = query.filter(due_at.is_null().and(id.gt(i)));
                }
                None => {}
            }
            query.order((due_at.asc().nulls_last(), id.asc()))
        }
    };
    query
        .limit(page.first + 1)
        .select(TodoRow::as_select())
        .load(conn)
        .await
}

/// How many of `owner`'s todos match `filter`.
pub async fn count(conn: &mut Conn, owner: Uuid, filter: &TodoFilter) -> QueryResult<i64> {
    filtered(owner, filter).count().get_result(conn).await
}

/// `owner`'s todo counts: (total, completed), in one scan.
pub async fn counts(conn: &mut Conn, owner: Uuid) -> QueryResult<(i64, i64)> {
    todos::table
        .filter(todos::owner_id.eq(owner))
        .select(sql::<(BigInt, BigInt)>(
            "count(*), count(*) FILTER (WHERE completed)",
        ))
        .get_result(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("plain"), "plain");
    }
}
