//! Diesel rows and queries for todos. Every query is scoped by a list (or
//! by the lists a user is a member of), so a todo of a list the caller may
//! not see is indistinguishable from a missing one. Every query here reads
//! and writes live todos only (through [`live`]): a trashed todo is as
//! missing as a deleted one, except to the queries of [`trash`].

use chrono::{DateTime, Utc};
use diesel::{dsl::sql, pg::Pg, prelude::*, sql_types::BigInt};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{
    cursor::{Cursor, Key},
    domain::{PageRequest, Scope, TodoFilter, TodoOrder},
    error::Current,
};
use crate::{
    db::Conn,
    schema::{list_members, todos, users},
};

pub mod trash;
mod update;
mod writes;
pub use update::update;
pub use writes::{first_position, insert_new, lock_live};

/// A todo row.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, PartialEq, Eq)]
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
    /// The list it is in.
    pub list_id: Uuid,
    /// Its place in the list's manual order.
    pub position: String,
    /// When it went to the trash (`None` while live).
    pub deleted_at: Option<DateTime<Utc>>,
}

impl TodoRow {
    /// The todo as a conflict shows it (`extensions.current`).
    pub fn current(&self) -> Current {
        Current {
            id: self.id,
            title: self.title.clone(),
            description: self.description.clone(),
            completed: self.completed,
            due_at: self.due_at,
            version: self.version,
            list_id: self.list_id,
            position: self.position.clone(),
        }
    }

    /// The cursor pointing just after this row in `order`.
    pub fn cursor(&self, order: TodoOrder) -> Cursor {
        let key = match order {
            TodoOrder::CreatedAtDesc | TodoOrder::CreatedAtAsc => Some(Key::At(self.created_at)),
            TodoOrder::UpdatedAtDesc => Some(Key::At(self.updated_at)),
            TodoOrder::DueAtAsc => self.due_at.map(Key::At),
            TodoOrder::Position => Some(Key::Position(self.position.clone())),
        };
        Cursor {
            order,
            key,
            id: self.id,
        }
    }
}

/// A todo to insert. `None` is written as NULL (the columns' default)
/// rather than as `DEFAULT`: a statement whose text does not depend on
/// which fields are set is one diesel keeps prepared (one round trip, not
/// a prepare and then the insert).
#[derive(Debug, Insertable)]
#[diesel(table_name = todos, treat_none_as_default_value = false)]
pub struct NewTodoRow<'a> {
    /// Id (UUIDv7, or a v4/v7 UUID the client chose).
    pub id: Uuid,
    /// Owner (the creator).
    pub owner_id: Uuid,
    /// The list.
    pub list_id: Uuid,
    /// Its position key.
    pub position: &'a str,
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

/// The live todos: every query but the trash's starts here, so a trashed
/// todo leaves reads, counts, filters and moves alike (and the partial
/// per-list indexes, which hold live todos only, serve them).
pub fn live() -> diesel::dsl::Filter<todos::table, diesel::dsl::IsNull<todos::deleted_at>> {
    todos::table.filter(todos::deleted_at.is_null())
}

/// The version at which each field a client may merge last changed
/// (`updateTodo`'s `baseVersion`).
#[derive(Debug, Clone, Copy, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = todos, check_for_backend(diesel::pg::Pg))]
pub struct FieldVersions {
    /// `title`.
    pub title_version: i32,
    /// `description`.
    pub description_version: i32,
    /// `completed`.
    pub completed_version: i32,
    /// `due_at`.
    pub due_at_version: i32,
}

impl FieldVersions {
    /// The version at which the field named `field` (GraphQL name) last
    /// changed; `None` for a field that is not merged.
    pub fn of(&self, field: &str) -> Option<i32> {
        match field {
            "title" => Some(self.title_version),
            "description" => Some(self.description_version),
            "completed" => Some(self.completed_version),
            "dueAt" => Some(self.due_at_version),
            _ => None,
        }
    }
}

/// Which field versions an update moves to the new version: those of the
/// fields whose value changed (`None` leaves a column as it is).
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = todos)]
pub struct FieldVersionChanges {
    /// `title` changed.
    pub title_version: Option<i32>,
    /// `description` changed.
    pub description_version: Option<i32>,
    /// `completed` changed.
    pub completed_version: Option<i32>,
    /// `due_at` changed.
    pub due_at_version: Option<i32>,
}

/// The field versions of a todo (read under the row lock the update
/// took, so they cannot change before it commits).
pub async fn field_versions(mut conn: &Conn, id: Uuid) -> QueryResult<FieldVersions> {
    todos::table
        .find(id)
        .select(FieldVersions::as_select())
        .first(&mut conn)
        .await
}

/// A todo of any list `viewer` is a member of.
pub async fn find_visible(mut conn: &Conn, viewer: Uuid, id: Uuid) -> QueryResult<Option<TodoRow>> {
    live()
        .inner_join(
            list_members::table.on(list_members::list_id
                .eq(todos::list_id)
                .and(list_members::user_id.eq(viewer))),
        )
        .filter(todos::id.eq(id))
        .select(TodoRow::as_select())
        .first(&mut conn)
        .await
        .optional()
}

/// The list a todo is in (no lock: writers lock the list, then the todo,
/// then check it is still there).
pub async fn list_of(mut conn: &Conn, id: Uuid) -> QueryResult<Option<Uuid>> {
    live()
        .filter(todos::id.eq(id))
        .select(todos::list_id)
        .first(&mut conn)
        .await
        .optional()
}

/// A todo of `list`.
pub async fn find_in_list(conn: &mut Conn, list: Uuid, id: Uuid) -> QueryResult<Option<TodoRow>> {
    live()
        .filter(todos::id.eq(id).and(todos::list_id.eq(list)))
        .select(TodoRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// A todo of `list`, locked until the transaction ends.
pub async fn lock_in_list(mut conn: &Conn, list: Uuid, id: Uuid) -> QueryResult<Option<TodoRow>> {
    live()
        .filter(todos::id.eq(id).and(todos::list_id.eq(list)))
        .select(TodoRow::as_select())
        .for_update()
        .first(&mut conn)
        .await
        .optional()
}

/// Moves a todo to `position` of `list`, bumping its version.
pub async fn relocate(
    conn: &mut Conn,
    id: Uuid,
    list: Uuid,
    position: &str,
    at: DateTime<Utc>,
) -> QueryResult<TodoRow> {
    diesel::update(live().filter(todos::id.eq(id)))
        .set((
            todos::list_id.eq(list),
            todos::position.eq(position),
            todos::updated_at.eq(at),
            todos::version.eq(todos::version + 1),
        ))
        .returning(TodoRow::as_returning())
        .get_result(conn)
        .await
}

/// Moves a live todo of `list` to the trash at `at` (its version and
/// everything else stay as they are), returning it.
pub async fn delete_in_list(
    mut conn: &Conn,
    list: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
) -> QueryResult<Option<TodoRow>> {
    diesel::update(live().filter(todos::id.eq(id).and(todos::list_id.eq(list))))
        .set(todos::deleted_at.eq(at))
        .returning(TodoRow::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
}

/// Marks every todo of `list` not already so as `completed`, returning the
/// changed rows.
pub async fn set_all_completed(
    conn: &mut Conn,
    list: Uuid,
    completed: bool,
    now: DateTime<Utc>,
) -> QueryResult<Vec<TodoRow>> {
    diesel::update(live().filter(todos::list_id.eq(list).and(todos::completed.ne(completed))))
        .set((
            todos::completed.eq(completed),
            todos::completed_at.eq(completed.then_some(now)),
            todos::updated_at.eq(now),
            todos::version.eq(todos::version + 1),
            // `completed` changed at the new version (the right-hand
            // sides read the row before the update).
            todos::completed_version.eq(todos::version + 1),
        ))
        .returning(TodoRow::as_returning())
        .get_results(conn)
        .await
}

/// Moves the live todos of `list` (only the completed ones when
/// `only_completed`) to the trash at `at`, returning them.
pub async fn delete_many(
    conn: &mut Conn,
    list: Uuid,
    only_completed: bool,
    at: DateTime<Utc>,
) -> QueryResult<Vec<TodoRow>> {
    let mut query = diesel::update(todos::table)
        .filter(todos::list_id.eq(list).and(todos::deleted_at.is_null()))
        .into_boxed();
    if only_completed {
        query = query.filter(todos::completed.eq(true));
    }
    query
        .set(todos::deleted_at.eq(at))
        .returning(TodoRow::as_returning())
        .get_results(conn)
        .await
}

/// The smallest position of `list` strictly after `key`.
pub async fn position_after(conn: &mut Conn, list: Uuid, key: &str) -> QueryResult<Option<String>> {
    live()
        .filter(todos::list_id.eq(list).and(todos::position.gt(key)))
        .select(diesel::dsl::min(todos::position))
        .first(conn)
        .await
}

/// The largest position of `list` strictly before `key`.
pub async fn position_before(
    conn: &mut Conn,
    list: Uuid,
    key: &str,
) -> QueryResult<Option<String>> {
    live()
        .filter(todos::list_id.eq(list).and(todos::position.lt(key)))
        .select(diesel::dsl::max(todos::position))
        .first(conn)
        .await
}

/// Every todo of `list` in manual order (for rebalancing its keys).
pub async fn in_order(mut conn: &Conn, list: Uuid) -> QueryResult<Vec<TodoRow>> {
    live()
        .filter(todos::list_id.eq(list))
        .order((todos::position.asc(), todos::id.asc()))
        .select(TodoRow::as_select())
        .for_update()
        .load(&mut conn)
        .await
}

/// Sets the positions of todos `ids` to `keys` (pairwise), bumping their
/// versions, in one statement: the changed rows.
pub async fn set_positions(
    mut conn: &Conn,
    ids: &[Uuid],
    keys: &[String],
    at: DateTime<Utc>,
) -> QueryResult<Vec<TodoRow>> {
    use diesel::sql_types::{Array, Text, Timestamptz};
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query(
        "UPDATE todos t SET position = v.key, updated_at = $3, version = t.version + 1 \
         FROM unnest($1::uuid[], $2::text[]) AS v(id, key) \
         WHERE t.id = v.id AND t.deleted_at IS NULL RETURNING t.*",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<Array<Text>, _>(keys)
    .bind::<Timestamptz, _>(at)
    .load(&mut conn)
    .await
}

/// The todos of `scope` matching `filter`, as a boxed query to add to.
fn filtered<'a>(scope: Scope, filter: &'a TodoFilter) -> todos::BoxedQuery<'a, Pg> {
    let mut query = match scope {
        Scope::List(list) => live().filter(todos::list_id.eq(list)).into_boxed(),
        Scope::MemberOf(user) => live()
            .filter(
                todos::list_id.eq_any(
                    list_members::table
                        .filter(list_members::user_id.eq(user))
                        .select(list_members::list_id),
                ),
            )
            .into_boxed(),
        Scope::DefaultOf(user) => live()
            .filter(
                todos::list_id.eq_any(
                    users::table
                        .filter(users::id.eq(user))
                        .select(users::default_list_id),
                ),
            )
            .into_boxed(),
        // The membership as a one-time filter: the list's own index still
        // gives the order.
        Scope::ListIfMember { list, member } => live()
            .filter(todos::list_id.eq(list))
            .filter(diesel::dsl::exists(
                list_members::table.find((list, member)),
            ))
            .into_boxed(),
    };
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

/// One page of the todos of `scope`: up to `first + 1` rows (the extra one
/// tells whether there is a next page), strictly after the cursor, by keyset.
pub async fn list_page(
    mut conn: &Conn,
    scope: Scope,
    filter: &TodoFilter,
    page: &PageRequest,
) -> QueryResult<Vec<TodoRow>> {
    use todos::{created_at, due_at, id, position, updated_at};
    let mut query = filtered(scope, filter);
    let after = page.after.as_ref();
    query = match page.order {
        TodoOrder::CreatedAtDesc => {
            if let Some(Cursor {
                key: Some(Key::At(k)),
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
                key: Some(Key::At(k)),
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
                key: Some(Key::At(k)),
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
                    key: Some(Key::At(k)),
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
                _ => {}
            }
            query.order((due_at.asc().nulls_last(), id.asc()))
        }
        TodoOrder::Position => {
            if let Some(Cursor {
                key: Some(Key::Position(k)),
                id: i,
                ..
            }) = after
            {
                query = query.filter(
                    position
                        .gt(k.clone())
                        .or(position.eq(k.clone()).and(id.gt(i))),
                );
            }
            query.order((position.asc(), id.asc()))
        }
    };
    query
        .limit(page.first + 1)
        .select(TodoRow::as_select())
        .load(&mut conn)
        .await
}

/// How many todos of `scope` match `filter`.
pub async fn count(mut conn: &Conn, scope: Scope, filter: &TodoFilter) -> QueryResult<i64> {
    filtered(scope, filter).count().get_result(&mut conn).await
}

/// The todo counts of `list`: (total, completed), in one scan.
pub async fn counts(conn: &mut Conn, list: Uuid) -> QueryResult<(i64, i64)> {
    live()
        .filter(todos::list_id.eq(list))
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
