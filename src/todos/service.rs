//! Todo use cases on parsed input, shared by GraphQL and the REST facade.
//! Every function takes the caller's user id and touches only todos of
//! lists the caller is a member of, within the caller's role there.
//! Writes run in a transaction, so whatever a change implies (events for
//! every member of the list, jobs) commits with it or not at all.
//!
//! Lock order, the same in every write: the list's audience lock (shared, through
//! [`guard::enter`]), then the todo's row. A todo write first reads the
//! todo's list without a lock, enters that list, then locks the todo and
//! checks it is still there (a concurrent move would have taken it away).

use chrono::{DateTime, SubsecRound, Utc};
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::{
    TodoError,
    domain::{PageRequest, Scope, TodoFilter, TodoOrder, TodoPatch},
    model::{self, TodoRow},
};
use crate::{
    cache::reads::ReadCache,
    db::{Conn, Db},
    events::{
        EventKind, EventService,
        service::{self as events, TodoSnapshot, todo_changes},
    },
    jobs::{self, queue::Job},
    lists::{
        access::{Action, Denied},
        guard::{self, Audience, Refused},
        position::{self, PositionKey},
    },
};

mod create;
mod merge;
mod moves;
mod trash;
mod write;
pub use moves::{MoveTodo, Placement};
pub use trash::{TRASH_PURGE_BATCH, TrashPage};

/// A first page as cached.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedPage {
    rows: Vec<TodoSnapshot>,
    has_next_page: bool,
    total: Option<i64>,
}

/// A stable short name for a filter, for cache keys.
fn filter_key(filter: &TodoFilter) -> String {
    let canonical = format!(
        "{:?}|{:?}|{:?}|{:?}",
        filter.completed,
        filter.search,
        filter.due_before.map(|d| d.timestamp_micros()),
        filter.due_after.map(|d| d.timestamp_micros()),
    );
    crate::cache::apq::sha256_hex(&canonical)[..16].to_owned()
}

/// One page of a todo list.
#[derive(Debug, Clone)]
pub struct Page {
    /// The todos, in order.
    pub rows: Vec<TodoRow>,
    /// Whether more todos follow the last one.
    pub has_next_page: bool,
    /// Whether todos precede the first one: true when the page starts after
    /// a cursor (Relay lets forward pagination approximate this).
    pub has_previous_page: bool,
    /// The order, for the cursors.
    pub order: TodoOrder,
    /// How many todos match the filter across all pages, when asked for.
    pub total: Option<i64>,
}

impl Page {
    /// The page from `rows` read with one row more than `first` asked
    /// for: that extra row only tells that a next page exists.
    pub fn from_read_ahead(
        mut rows: Vec<TodoRow>,
        first: i64,
        after_cursor: bool,
        order: TodoOrder,
        total: Option<i64>,
    ) -> Self {
        let first = usize::try_from(first).unwrap_or(0);
        let has_next_page = rows.len() > first;
        rows.truncate(first);
        Self {
            rows,
            has_next_page,
            has_previous_page: after_cursor,
            order,
            total,
        }
    }
}

/// Enters the list of todo `id` for `action` and locks the todo: its
/// audience and its current row. A todo of a list the caller is not a
/// member of is `NotFound`.
async fn enter_todo(
    conn: &mut Conn,
    actor: Uuid,
    id: Uuid,
    action: Action,
) -> Result<(Audience, TodoRow), TodoError> {
    // A concurrent move may take the todo to another list between reading
    // its list and locking it; then try again (twice is plenty).
    for _ in 0..3 {
        let list = model::list_of(conn, id).await?.ok_or(TodoError::NotFound)?;
        let audience = guard::enter(conn, list, actor, action)
            .await
            .map_err(|e| match e {
                Refused::Denied(Denied::Missing) => TodoError::NotFound,
                other => other.into(),
            })?;
        if let Some(row) = model::lock_in_list(conn, list, id).await? {
            return Ok((audience, row));
        }
    }
    Err(TodoError::NotFound)
}

/// The caller's todo counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// All todos.
    pub total: i64,
    /// Not completed.
    pub active: i64,
    /// Completed.
    pub completed: i64,
}

/// Todos.
#[derive(Clone)]
pub struct TodoService {
    db: Db,
    events: EventService,
    cache: ReadCache,
    reminder_lead: std::time::Duration,
}

/// Schedules the due-date reminder of a todo that is due later and not
/// completed: one per todo and due time (the idempotency key), sent
/// `lead` before it is due (at once if that moment has passed).
async fn schedule_reminder(
    conn: &crate::db::Conn,
    row: &TodoRow,
    lead: std::time::Duration,
) -> diesel::QueryResult<()> {
    let now = Utc::now();
    let Some(due_at) = row.due_at else {
        return Ok(());
    };
    if row.completed || due_at <= now {
        return Ok(());
    }
    let lead = chrono::Duration::from_std(lead).unwrap_or(chrono::Duration::hours(1));
    let run_at = (due_at - lead).max(now);
    let key = format!("reminder:{}:{}", row.id, due_at.timestamp_micros());
    let job = Job::DueReminder {
        todo_id: row.id,
        owner_id: row.owner_id,
        due_at,
    };
    jobs::queue::enqueue(conn, &job, Some(run_at), Some(&key)).await?;
    Ok(())
}

/// Now, at the database's microsecond precision, so values written and read
/// back compare equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl TodoService {
    /// The service over `db`, recording every change as an event and
    /// caching hot reads in `cache`.
    pub fn new(
        db: Db,
        events: EventService,
        cache: ReadCache,
        reminder_lead: std::time::Duration,
    ) -> Self {
        Self {
            db,
            events,
            cache,
            reminder_lead,
        }
    }

    /// A todo of any list `viewer` is a member of.
    pub async fn get(&self, viewer: Uuid, id: Uuid) -> Result<TodoRow, TodoError> {
        let conn = self.db.conn().await?;
        model::find_visible(&conn, viewer, id)
            .await?
            .ok_or(TodoError::NotFound)
    }

    /// A page of the todos of `scope` matching `filter`, as `viewer` reads
    /// them (a `Scope::List` must be one the caller checked `viewer` may
    /// read). `version` is the viewer's data version (`users.event_seq` as
    /// loaded for this request): every change to a list moves the version
    /// of each of its members in the same transaction, so it keys the read
    /// cache, for shared lists too. With `with_total`, the page also carries
    /// the filter's total count (a first page and its total are cached as
    /// one entry: one round trip).
    pub async fn list(
        &self,
        viewer: Uuid,
        version: i64,
        scope: Scope,
        filter: &TodoFilter,
        page: &PageRequest,
        with_total: bool,
    ) -> Result<Page, TodoError> {
        // Only first pages are cached: they are what every app loads.
        let cache = match page.after {
            None => self.cache.scope(viewer, version),
            Some(_) => None,
        };
        let name = format!(
            "page:{}:{}:{}:{}:{}",
            scope.key(),
            page.order.key(),
            page.first,
            u8::from(with_total),
            filter_key(filter)
        );
        if let Some(cache) = &cache
            && let Some(cached) = self.cache.get::<CachedPage>(cache, &name).await
        {
            return Ok(Page {
                rows: cached.rows.into_iter().map(TodoRow::from).collect(),
                has_next_page: cached.has_next_page,
                has_previous_page: false,
                order: page.order,
                total: cached.total,
            });
        }
        let conn = self.db.conn().await?;
        let read = Self::page_on(&conn, scope, filter, page, with_total).await?;
        drop(conn);
        if let Some(cache) = &cache {
            let cached = CachedPage {
                rows: read.rows.iter().map(TodoSnapshot::from).collect(),
                has_next_page: read.has_next_page,
                total: read.total,
            };
            self.cache.put(cache, &name, &cached).await;
        }
        Ok(read)
    }

    /// Whether reads go through the read cache (which [`Self::list_with`]
    /// bypasses: its key needs the viewer's data version first).
    pub fn caches_reads(&self) -> bool {
        self.cache.scope(Uuid::nil(), 0).is_some()
    }

    /// A page as [`Self::list`] reads it with the cache off, on one
    /// connection and in one round trip with `also`'s statements, sent
    /// first (the caller's read of the viewer's row: the page's `scope`
    /// may find the viewer's default list itself, `Scope::DefaultOf`).
    /// `also`'s answer is returned whatever the page's.
    pub async fn list_with<T>(
        &self,
        scope: Scope,
        filter: &TodoFilter,
        page: &PageRequest,
        with_total: bool,
        also: impl AsyncFnOnce(&Conn) -> T,
    ) -> Result<(T, Result<Page, TodoError>), TodoError> {
        let conn = self.db.conn().await?;
        let (also, read) = futures_util::join!(
            also(&conn),
            Self::page_on(&conn, scope, filter, page, with_total)
        );
        drop(conn);
        Ok((also, read))
    }

    /// A page as [`Self::list`] reads it with the cache off, on a
    /// connection the caller holds (shared, so the page and its count go
    /// in one write with the caller's own statements).
    pub async fn page_on(
        conn: &Conn,
        scope: Scope,
        filter: &TodoFilter,
        page: &PageRequest,
        with_total: bool,
    ) -> Result<Page, TodoError> {
        let (rows, total) =
            futures_util::try_join!(model::list_page(conn, scope, filter, page), async {
                match with_total {
                    true => model::count(conn, scope, filter).await.map(Some),
                    false => Ok(None),
                }
            })?;
        Ok(Page::from_read_ahead(
            rows,
            page.first,
            page.after.is_some(),
            page.order,
            total,
        ))
    }

    /// How many todos of `scope` match `filter` (see [`Self::list`]).
    pub async fn count(
        &self,
        viewer: Uuid,
        version: i64,
        scope: Scope,
        filter: &TodoFilter,
    ) -> Result<i64, TodoError> {
        let cache = self.cache.scope(viewer, version);
        let name = format!("count:{}:{}", scope.key(), filter_key(filter));
        if let Some(cache) = &cache
            && let Some(n) = self.cache.get::<i64>(cache, &name).await
        {
            return Ok(n);
        }
        let conn = self.db.conn().await?;
        let n = model::count(&conn, scope, filter).await?;
        drop(conn);
        if let Some(cache) = &cache {
            self.cache.put(cache, &name, &n).await;
        }
        Ok(n)
    }

    /// The counts by state of `list` (one `viewer` may read).
    pub async fn counts(
        &self,
        viewer: Uuid,
        version: i64,
        list: Uuid,
    ) -> Result<Counts, TodoError> {
        let scope = self.cache.scope(viewer, version);
        let name = format!("counts:{}", list.simple());
        if let Some(scope) = &scope
            && let Some((total, completed)) = self.cache.get::<(i64, i64)>(scope, &name).await
        {
            return Ok(Counts {
                total,
                active: total - completed,
                completed,
            });
        }
        let mut conn = self.db.conn().await?;
        let (total, completed) = model::counts(&mut conn, list).await?;
        drop(conn);
        if let Some(scope) = &scope {
            self.cache.put(scope, &name, &(total, completed)).await;
        }
        Ok(Counts {
            total,
            active: total - completed,
            completed,
        })
    }

    /// Applies a partial update (OWNER or EDITOR of the todo's list). With
    /// `expected_version` set and not current, fails with
    /// `VersionConflict` and changes nothing; with `base_version`, merges
    /// (see [`merge::check`]). A patch that changes nothing leaves the
    /// version as it is. Each field that changes gets the new version as
    /// the version at which it last changed.
    #[tracing::instrument(skip_all, fields(user.id = %actor, todo.id = %id))]
    pub async fn update(
        &self,
        actor: Uuid,
        id: Uuid,
        patch: TodoPatch,
    ) -> Result<TodoRow, TodoError> {
        // The transaction and its checks: `write`.
        self.update_pipelined(actor, id, patch).await
    }

    /// Deletes one todo (OWNER or EDITOR of its list), returning its id:
    /// it goes to its list's trash (see [`Self::restore`]) with its version
    /// unchanged, and members are told it was DELETED, as they always were.
    #[tracing::instrument(skip_all, fields(user.id = %actor, todo.id = %id))]
    pub async fn delete(&self, actor: Uuid, id: Uuid) -> Result<Uuid, TodoError> {
        let mut conn = self.db.conn().await?;
        let events = conn
            .transaction::<_, TodoError, _>(async |conn| {
                let (audience, current) = enter_todo(conn, actor, id, Action::WriteTodos).await?;
                let row = model::delete_in_list(conn, current.list_id, id, now())
                    .await?
                    .ok_or(TodoError::NotFound)?;
                jobs::queue::cancel_reminders(conn, &[row.id]).await?;
                Ok(events::record(
                    conn,
                    todo_changes(&audience.users(), EventKind::Deleted, row.list_id, &[row]),
                )
                .await?)
            })
            .await?;
        self.events.publish(&mut conn, events).await;
        Ok(id)
    }

    /// Marks every todo of `list` completed (or active); returns how many
    /// changed.
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn set_all_completed(
        &self,
        actor: Uuid,
        list: Uuid,
        completed: bool,
    ) -> Result<usize, TodoError> {
        let mut conn = self.db.conn().await?;
        let at = now();
        let (changed, events) = conn
            .transaction::<_, TodoError, _>(async |conn| {
                let audience = guard::enter(conn, list, actor, Action::WriteTodos).await?;
                let rows = model::set_all_completed(conn, list, completed, at).await?;
                let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                jobs::queue::cancel_reminders(conn, &ids).await?;
                for row in &rows {
                    schedule_reminder(conn, row, self.reminder_lead).await?;
                }
                let events = events::record(
                    conn,
                    todo_changes(&audience.users(), EventKind::Updated, list, &rows),
                )
                .await?;
                Ok((rows.len(), events))
            })
            .await?;
        self.events.publish(&mut conn, events).await;
        Ok(changed)
    }

    /// Deletes the completed todos of `list` (or all of them) into its
    /// trash, like [`Self::delete`]; returns how many.
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn delete_many(
        &self,
        actor: Uuid,
        list: Uuid,
        only_completed: bool,
    ) -> Result<usize, TodoError> {
        let mut conn = self.db.conn().await?;
        let (deleted, events) = conn
            .transaction::<_, TodoError, _>(async |conn| {
                let audience = guard::enter(conn, list, actor, Action::WriteTodos).await?;
                let rows = model::delete_many(conn, list, only_completed, now()).await?;
                let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                jobs::queue::cancel_reminders(conn, &ids).await?;
                let events = events::record(
                    conn,
                    todo_changes(&audience.users(), EventKind::Deleted, list, &rows),
                )
                .await?;
                Ok((rows.len(), events))
            })
            .await?;
        self.events.publish(&mut conn, events).await;
        Ok(deleted)
    }
}

/// The key that puts a todo before `first` (the list's first key, if any).
fn first_key_before(first: Option<&str>) -> Result<PositionKey, TodoError> {
    let first = first.map(PositionKey::parse).transpose()?;
    Ok(position::key_between(None, first.as_ref())?)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::{Page, TodoOrder, TodoRow};

    fn rows(n: usize) -> Vec<TodoRow> {
        (0..n)
            .map(|i| TodoRow {
                id: Uuid::new_v4(),
                owner_id: Uuid::nil(),
                title: format!("todo {i}"),
                description: None,
                completed: false,
                due_at: None,
                completed_at: None,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                version: 1,
                list_id: Uuid::nil(),
                position: format!("a{i}"),
                deleted_at: None,
            })
            .collect()
    }

    #[test]
    fn the_row_read_ahead_only_tells_a_next_page_exists() {
        let read = rows(3);
        let third = read[2].id;
        let page = Page::from_read_ahead(read, 2, true, TodoOrder::default(), Some(7));
        assert_eq!(page.rows.len(), 2);
        assert!(page.rows.iter().all(|r| r.id != third));
        assert!(page.has_next_page);
        assert!(page.has_previous_page);
        assert_eq!(page.total, Some(7));
    }

    #[test]
    fn a_short_read_is_the_last_page() {
        let page = Page::from_read_ahead(rows(2), 2, false, TodoOrder::default(), None);
        assert_eq!(page.rows.len(), 2);
        assert!(!page.has_next_page);
        assert!(!page.has_previous_page);
        let empty = Page::from_read_ahead(rows(1), -1, false, TodoOrder::default(), None);
        assert!(empty.rows.is_empty());
        assert!(empty.has_next_page);
    }
}
