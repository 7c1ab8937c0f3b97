//! The trash: `deleteTodo` and `clearCompletedTodos` move todos there
//! (see [`TodoService::delete`]); here they are listed, restored, emptied
//! and, past the retention, purged.
//!
//! A trashed todo stays in its list with its id, version and position key,
//! invisible to every live read. Its members were told it was DELETED when
//! it went; a restore tells them it was CREATED. The purge and
//! `emptyTrash` tell nobody: the todos were announced deleted already.

use std::time::Duration;

use chrono::Utc;
use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::{Page, TodoError, TodoService, first_key_before, now, schedule_reminder};
use crate::{
    db::Conn,
    events::{
        EventKind,
        service::{self as events, todo_changes},
    },
    lists::{
        access::{Action, Denied},
        guard::{self, Audience, Refused},
    },
    todos::{
        cursor::TrashCursor,
        domain::{PageRequest, TodoOrder},
        model::{self, TodoRow, trash},
    },
};

/// How many todos one purge statement deletes: small enough that no
/// statement holds many row locks or runs long, however big the backlog.
pub const TRASH_PURGE_BATCH: i64 = 1000;

/// A parsed request for a page of a trash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashPage {
    /// At most this many todos (0 to 100, default 20, as for todo lists).
    pub first: i64,
    /// Todos strictly after this cursor.
    pub after: Option<TrashCursor>,
}

impl TrashPage {
    /// Checks `first` and decodes `after` (a trash cursor).
    pub fn parse(first: Option<i64>, after: Option<&str>) -> Result<Self, TodoError> {
        let first = first.unwrap_or(PageRequest::DEFAULT_FIRST);
        if !(0..=PageRequest::MAX_FIRST).contains(&first) {
            return Err(TodoError::invalid("first", "must be between 0 and 100"));
        }
        let after = after
            .filter(|a| !a.is_empty())
            .map(TrashCursor::decode)
            .transpose()?;
        Ok(Self { first, after })
    }
}

/// Enters the list of trashed todo `id` for a restore and locks the todo.
/// A todo not in the trash, or of a list the caller is not a member of, is
/// `NotFound`; a VIEWER is `Forbidden`.
async fn enter_trashed(
    conn: &mut Conn,
    actor: Uuid,
    id: Uuid,
) -> Result<(Audience, TodoRow), TodoError> {
    // A concurrent restore and move may take it elsewhere between reading
    // its list and locking it: then look again.
    for _ in 0..3 {
        let list = trash::list_of(conn, id).await?.ok_or(TodoError::NotFound)?;
        let audience = guard::enter(conn, list, actor, Action::WriteTodos)
            .await
            .map_err(|e| match e {
                Refused::Denied(Denied::Missing) => TodoError::NotFound,
                other => other.into(),
            })?;
        if let Some(row) = trash::lock_in_list(conn, list, id).await? {
            return Ok((audience, row));
        }
    }
    Err(TodoError::NotFound)
}

impl TodoService {
    /// A page of `list`'s trash, most recently deleted first (the caller
    /// checked that the viewer may read `list`). The page's `order` is
    /// unused: trash cursors are [`TrashCursor`]s. With `with_total`, the
    /// page carries the trash's size. Not cached: `emptyTrash` and the
    /// purge change the trash without moving anyone's data version.
    pub async fn trash(
        &self,
        list: Uuid,
        page: &TrashPage,
        with_total: bool,
    ) -> Result<Page, TodoError> {
        let mut conn = self.db.conn().await?;
        let rows = trash::page(&mut conn, list, page.after.as_ref(), page.first).await?;
        let total = match with_total {
            true => Some(trash::count(&mut conn, list).await?),
            false => None,
        };
        Ok(Page::from_read_ahead(
            rows,
            page.first,
            page.after.is_some(),
            TodoOrder::default(),
            total,
        ))
    }

    /// How many todos `list`'s trash holds (the caller checked access).
    pub async fn trash_count(&self, list: Uuid) -> Result<i64, TodoError> {
        let mut conn = self.db.conn().await?;
        Ok(trash::count(&mut conn, list).await?)
    }

    /// Brings trashed todo `id` back (OWNER or EDITOR of its list): same
    /// id and list, version + 1, a CREATED event for every member, and its
    /// due-date reminder scheduled again.
    ///
    /// Its place: its old position key, which still sorts it among the
    /// todos left in the list (it comes back after those with smaller keys
    /// and before those with larger ones, whether or not its old neighbours
    /// are still there). Only when a live todo of the list now holds that
    /// very key (a todo created first after it was trashed, or moved to
    /// that key) does it come back first in the list instead, so that no
    /// two todos share a key because of a restore.
    #[tracing::instrument(skip_all, fields(user.id = %actor, todo.id = %id))]
    pub async fn restore(&self, actor: Uuid, id: Uuid) -> Result<TodoRow, TodoError> {
        let mut conn = self.db.conn().await?;
        let (row, events) = conn
            .transaction::<_, TodoError, _>(async |conn| {
                let (audience, current) = enter_trashed(conn, actor, id).await?;
                let list = current.list_id;
                let position = match trash::position_taken(conn, list, &current.position).await? {
                    false => current.position.clone(),
                    true => {
                        let first = model::first_position(conn, list).await?;
                        first_key_before(first.as_deref())?.into_string()
                    }
                };
                let row = trash::restore(conn, id, &position, now()).await?;
                let events = events::record(
                    conn,
                    todo_changes(
                        &audience.users(),
                        EventKind::Created,
                        list,
                        std::slice::from_ref(&row),
                    ),
                )
                .await?;
                schedule_reminder(conn, &row, self.reminder_lead).await?;
                Ok((row, events))
            })
            .await?;
        self.events.publish(&mut conn, events).await;
        Ok(row)
    }

    /// Deletes `list`'s trash for good (OWNER or EDITOR); returns how many
    /// todos went.
    ///
    /// No event and no data version move: trashed todos are in no live
    /// read and members were told they were DELETED when they were
    /// trashed, so nothing any cached read holds changes. (The trash
    /// listing itself is never cached.)
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn empty_trash(&self, actor: Uuid, list: Uuid) -> Result<usize, TodoError> {
        let mut conn = self.db.conn().await?;
        conn.transaction::<_, TodoError, _>(async |conn| {
            // Shares the list's audience lock with todo writes, so it waits
            // for a restore in flight (whose todo it then leaves alone).
            guard::enter(conn, list, actor, Action::WriteTodos).await?;
            Ok(trash::empty(conn, list).await?)
        })
        .await
    }

    /// Deletes for good every todo trashed more than `older_than` ago, in
    /// statements of [`TRASH_PURGE_BATCH`] until none is left; returns how
    /// many. Like [`Self::empty_trash`], it records no event.
    pub async fn purge_trash(&self, older_than: Duration) -> Result<usize, TodoError> {
        let older_than = chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
        let cutoff = Utc::now()
            .checked_sub_signed(older_than)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        let mut conn = self.db.conn().await?;
        let mut purged = 0;
        loop {
            let n = trash::purge(&mut conn, cutoff, TRASH_PURGE_BATCH).await?;
            purged += n;
            if i64::try_from(n).unwrap_or(i64::MAX) < TRASH_PURGE_BATCH {
                return Ok(purged);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trash_pages_are_bounded_like_todo_lists() {
        assert_eq!(TrashPage::parse(None, None).unwrap().first, 20);
        assert_eq!(TrashPage::parse(Some(0), Some("")).unwrap().after, None);
        assert!(TrashPage::parse(Some(100), None).is_ok());
        for bad in [-1, 101] {
            assert!(matches!(
                TrashPage::parse(Some(bad), None),
                Err(TodoError::Invalid { field: "first", .. })
            ));
        }
        let cursor = TrashCursor {
            deleted_at: Utc::now(),
            id: Uuid::now_v7(),
        };
        let parsed = TrashPage::parse(Some(5), Some(&cursor.encode())).unwrap();
        assert_eq!(parsed.after.map(|c| c.id), Some(cursor.id));
        assert!(matches!(
            TrashPage::parse(None, Some("garbage")),
            Err(TodoError::Invalid { field: "after", .. })
        ));
    }
}
