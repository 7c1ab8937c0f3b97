//! `moveTodo`: placing a todo in its list's manual order, or in another
//! list, and rebalancing a list whose keys grew long.

use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::{TodoError, TodoService, enter_todo, now};
use crate::{
    events::{
        EventKind,
        service::{self as events, Change, TodoEvent, TodoSnapshot, event_time, todo_changes},
    },
    lists::{
        access::Action,
        guard::{self, Audience},
        position::{self, PositionKey},
    },
    todos::model::{self, TodoRow},
};

/// Where a moved todo goes in its target list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// First.
    First,
    /// Right after this todo.
    After(Uuid),
    /// Right before this todo.
    Before(Uuid),
    /// Strictly between these two todos (the first's key must be smaller).
    Between(Uuid, Uuid),
    /// At the key the client chose.
    At(PositionKey),
}

/// A parsed `moveTodo` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveTodo {
    /// The target list; `None`: the todo's own.
    pub list: Option<Uuid>,
    /// Where in it.
    pub placement: Placement,
    /// When given and not the todo's version: CONFLICT, nothing changes.
    pub expected_version: Option<i32>,
}

impl MoveTodo {
    /// Parses the input: ids as sent (a malformed id names no todo:
    /// `BAD_USER_INPUT`; a malformed list id: `NOT_FOUND`, like an unknown
    /// list), `position` alone or ids alone.
    pub fn parse(
        list: Option<&str>,
        after: Option<&str>,
        before: Option<&str>,
        position: Option<&str>,
        expected_version: Option<i32>,
    ) -> Result<Self, TodoError> {
        let list = list
            .map(|l| Uuid::try_parse(l).map_err(|_| TodoError::ListNotFound))
            .transpose()?;
        let todo = |field: &'static str, raw: &str| {
            Uuid::try_parse(raw)
                .map_err(|_| TodoError::invalid(field, "is not a todo of the target list"))
        };
        let placement = match (after, before, position) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(TodoError::invalid(
                    "position",
                    "cannot be combined with afterId or beforeId",
                ));
            }
            (None, None, Some(p)) => Placement::At(PositionKey::parse(p)?),
            (Some(a), Some(b), None) => {
                Placement::Between(todo("afterId", a)?, todo("beforeId", b)?)
            }
            (Some(a), None, None) => Placement::After(todo("afterId", a)?),
            (None, Some(b), None) => Placement::Before(todo("beforeId", b)?),
            (None, None, None) => Placement::First,
        };
        Ok(Self {
            list,
            placement,
            expected_version,
        })
    }
}

/// Keys longer than this make the server rebalance the list after a move.
pub(super) const REBALANCE_AT: usize = 50;

impl TodoService {
    /// Moves todo `id` (see [`MoveTodo`]); the caller must be OWNER or
    /// EDITOR of the todo's list and of the target list.
    #[tracing::instrument(skip_all, fields(user.id = %actor, todo.id = %id))]
    pub async fn move_todo(
        &self,
        actor: Uuid,
        id: Uuid,
        request: MoveTodo,
    ) -> Result<TodoRow, TodoError> {
        let mut conn = self.db.conn().await?;
        let (row, events) = conn
            .transaction::<_, TodoError, _>(async |conn| {
                let (source, current) = enter_todo(conn, actor, id, Action::WriteTodos).await?;
                let from = current.list_id;
                let to = request.list.unwrap_or(from);
                let target = match to == from {
                    true => source.clone(),
                    false => guard::enter(conn, to, actor, Action::WriteTodos).await?,
                };
                if let Some(expected) = request.expected_version
                    && expected != current.version
                {
                    return Err(TodoError::VersionConflict {
                        expected,
                        actual: current.version,
                        current: Box::new(current.current()),
                    });
                }
                let key = target_key(conn, to, id, &request.placement).await?;
                let at = now();
                let row = model::relocate(conn, id, to, key.as_str(), at).await?;
                let changes = match to == from {
                    true => todo_changes(
                        &source.users(),
                        EventKind::Updated,
                        to,
                        std::slice::from_ref(&row),
                    ),
                    false => move_changes(&source, &target, &row, from),
                };
                let mut changes = changes;
                let mut row = row;
                if key.as_str().len() > REBALANCE_AT {
                    let rebalanced = rebalance(conn, to).await?;
                    // The moved todo's key changed again.
                    if let Some(moved) = rebalanced.iter().find(|r| r.id == id) {
                        row = moved.clone();
                    }
                    changes.extend(todo_changes(
                        &target.users(),
                        EventKind::Updated,
                        to,
                        &rebalanced,
                    ));
                }
                // One call for the whole transaction: events inserted in
                // user-id order (see `events::service::record`).
                Ok((row, events::record(conn, changes).await?))
            })
            .await?;
        self.events.publish(&mut conn, events).await;
        Ok(row)
    }
}

/// The key for `placement` in list `list` (todo `moved` excluded from
/// being its own neighbour).
async fn target_key(
    conn: &mut crate::db::Conn,
    list: Uuid,
    moved: Uuid,
    placement: &Placement,
) -> Result<PositionKey, TodoError> {
    let neighbour = async |conn: &mut crate::db::Conn, field: &'static str, other: Uuid| {
        if other == moved {
            return Err(TodoError::invalid(field, "is the moved todo itself"));
        }
        let row = model::find_in_list(conn, list, other)
            .await?
            .ok_or_else(|| TodoError::invalid(field, "is not a todo of the target list"))?;
        Ok::<_, TodoError>(PositionKey::parse(&row.position)?)
    };
    let parse = |raw: Option<String>| raw.as_deref().map(PositionKey::parse).transpose();
    Ok(match placement {
        Placement::At(key) => key.clone(),
        Placement::First => {
            let first = parse(model::first_position(conn, list).await?)?;
            position::key_between(None, first.as_ref())?
        }
        Placement::After(a) => {
            let a = neighbour(conn, "afterId", *a).await?;
            // The first key above `a`'s: ties with `a` stay before the moved todo.
            let next = parse(model::position_after(conn, list, a.as_str()).await?)?;
            position::key_between(Some(&a), next.as_ref())?
        }
        Placement::Before(b) => {
            let b = neighbour(conn, "beforeId", *b).await?;
            let prev = parse(model::position_before(conn, list, b.as_str()).await?)?;
            position::key_between(prev.as_ref(), Some(&b))?
        }
        Placement::Between(a, b) => {
            let a = neighbour(conn, "afterId", *a).await?;
            let b = neighbour(conn, "beforeId", *b).await?;
            if a >= b {
                return Err(TodoError::invalid(
                    "afterId",
                    "must come before beforeId in the list's order",
                ));
            }
            position::key_between(Some(&a), Some(&b))?
        }
    })
}

/// The events of a move from list `from` to another: UPDATED for members
/// of both, DELETED for those who only see the source, CREATED for those
/// who only see the target.
fn move_changes(source: &Audience, target: &Audience, row: &TodoRow, from: Uuid) -> Vec<Change> {
    let occurred_at = event_time();
    let snapshot = std::sync::Arc::new(TodoSnapshot::from(row));
    let event = |user: Uuid, kind: EventKind, list_id: Uuid, from_list_id: Option<Uuid>| {
        Change::Todo(TodoEvent {
            user_id: user,
            seq: 0,
            kind,
            todo_id: row.id,
            snapshot: (kind != EventKind::Deleted).then(|| snapshot.clone()),
            occurred_at,
            list_id,
            from_list_id,
        })
    };
    let mut changes = Vec::new();
    for user in source.users() {
        changes.push(match target.contains(user) {
            true => event(user, EventKind::Updated, row.list_id, Some(from)),
            false => event(user, EventKind::Deleted, from, None),
        });
    }
    for user in target.users() {
        if !source.contains(user) {
            changes.push(event(user, EventKind::Created, row.list_id, None));
        }
    }
    changes
}

/// Gives every todo of `list` a fresh short key in the current order (the
/// order does not change), in one statement; the rows whose key changed.
pub(super) async fn rebalance(
    conn: &crate::db::Conn,
    list: Uuid,
) -> Result<Vec<TodoRow>, TodoError> {
    let rows = model::in_order(conn, list).await?;
    let keys = position::keys_between(None, None, rows.len())?;
    let (ids, keys): (Vec<Uuid>, Vec<String>) = rows
        .iter()
        .zip(keys)
        .filter(|(row, key)| row.position != key.as_str())
        .map(|(row, key)| (row.id, key.into_string()))
        .unzip();
    let changed = model::set_positions(conn, &ids, &keys, now()).await?;
    tracing::info!(list.id = %list, todos = rows.len(), changed = changed.len(), "rebalanced position keys");
    Ok(changed)
}
