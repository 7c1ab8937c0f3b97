//! `createTodo`: a new todo first in its list or at the key the client
//! chose, under a server-made id or one the client chose. A creation
//! repeated with a client-chosen id (its first answer was lost) is
//! answered with the todo it made, without a second event.

use diesel_async::AsyncConnection;
use uuid::Uuid;

use super::{
    TodoService, first_key_before,
    moves::{REBALANCE_AT, rebalance},
    now, schedule_reminder,
};
use crate::{
    events::{
        EventKind,
        service::{self as events, Recorded, todo_changes},
    },
    lists::{access::Action, guard},
    todos::{
        TodoError,
        domain::NewTodo,
        model::{self, NewTodoRow, TodoRow},
    },
};

impl TodoService {
    /// Creates a todo in `list` (OWNER or EDITOR): first in its manual
    /// order, or at `todo.position` (a key already used in the list is
    /// kept, as `moveTodo` keeps it: ties are ordered by id; a key past
    /// the rebalancing length rebalances the list). With `todo.id` taken:
    /// the existing todo when it is the caller's and equals the input
    /// (nothing written), `IdInUse` otherwise (see [`repeated`]).
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn create(
        &self,
        actor: Uuid,
        list: Uuid,
        todo: NewTodo,
    ) -> Result<TodoRow, TodoError> {
        let mut conn = self.db.conn().await?;
        let at = now();
        let (row, events) = conn
            .transaction::<_, TodoError, _>(async |conn| {
                let audience = guard::enter(conn, list, actor, Action::WriteTodos).await?;
                // Two todos created at once may get the same key: ties are
                // broken by id, so the order stays total.
                let position = match &todo.position {
                    Some(key) => key.clone(),
                    None => first_key_before(model::first_position(conn, list).await?.as_deref())?,
                };
                let id = todo.id.unwrap_or_else(Uuid::now_v7);
                let inserted = model::insert_new(
                    conn,
                    &NewTodoRow {
                        id,
                        owner_id: actor,
                        list_id: list,
                        position: position.as_str(),
                        title: todo.title.as_str(),
                        description: todo.description.as_ref().map(|d| d.as_str()),
                        due_at: todo.due_at,
                        created_at: at,
                        updated_at: at,
                    },
                )
                .await?;
                let Some(mut row) = inserted else {
                    let existing = repeated(conn, actor, list, id, &todo).await?;
                    return Ok((existing, Recorded::default()));
                };
                let mut changes = todo_changes(
                    &audience.users(),
                    EventKind::Created,
                    list,
                    std::slice::from_ref(&row),
                );
                if position.as_str().len() > REBALANCE_AT {
                    let rebalanced = rebalance(conn, list).await?;
                    if let Some(moved) = rebalanced.iter().find(|r| r.id == id) {
                        row = moved.clone();
                    }
                    changes.extend(todo_changes(
                        &audience.users(),
                        EventKind::Updated,
                        list,
                        &rebalanced,
                    ));
                }
                let events = events::record(conn, changes).await?;
                schedule_reminder(conn, &row, self.reminder_lead).await?;
                Ok((row, events))
            })
            .await?;
        // Cached reads need no invalidation: the change moved every
        // member's data version in the same transaction.
        self.events.publish(&mut conn, events).await;
        Ok(row)
    }
}

/// Creating `todo` in `list` under `id` found the id taken (the insert
/// that took it has committed: `ON CONFLICT DO NOTHING` waits for it).
/// "The caller's" todo is one the caller created and still sees: it is
/// answered as it stands when the input's fields equal it, and is the
/// `current` of an `IdInUse` otherwise. Any other todo under that id (of
/// another user, in a list the caller left, or gone meanwhile) is an
/// `IdInUse` that reveals nothing.
async fn repeated(
    conn: &mut crate::db::Conn,
    actor: Uuid,
    list: Uuid,
    id: Uuid,
    todo: &NewTodo,
) -> Result<TodoRow, TodoError> {
    let existing = model::find_visible(conn, actor, id)
        .await?
        .filter(|row| row.owner_id == actor);
    match existing {
        Some(row) if same_as_input(todo, list, &row) => Ok(row),
        Some(row) => Err(TodoError::IdInUse {
            current: Some(Box::new(row.current())),
        }),
        None => Err(TodoError::IdInUse { current: None }),
    }
}

/// Whether `row` is what creating `todo` in `list` made: every field of
/// the input equal (the position only when the input chose one; fields
/// the input does not have, such as `completed`, are not compared).
fn same_as_input(todo: &NewTodo, list: Uuid, row: &TodoRow) -> bool {
    row.list_id == list
        && row.title == todo.title.as_str()
        && row.description.as_deref() == todo.description.as_ref().map(|d| d.as_str())
        && row.due_at == todo.due_at
        && todo
            .position
            .as_ref()
            .is_none_or(|p| p.as_str() == row.position)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::lists::position::PositionKey;

    fn row(list: Uuid) -> TodoRow {
        let at = Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap();
        TodoRow {
            id: Uuid::new_v4(),
            owner_id: Uuid::new_v4(),
            title: "Milk".into(),
            description: Some("2 l".into()),
            completed: false,
            due_at: Some(at),
            completed_at: None,
            created_at: at,
            updated_at: at,
            version: 1,
            list_id: list,
            position: "a0".into(),
            deleted_at: None,
        }
    }

    #[test]
    fn a_repeat_matches_on_the_fields_of_the_input() {
        let list = Uuid::new_v4();
        let stored = row(list);
        let input = NewTodo::parse(" Milk ", Some("2 l"), stored.due_at).unwrap();
        assert!(same_as_input(&input, list, &stored));
        // Fields the input does not have are not compared.
        let completed = TodoRow {
            completed: true,
            version: 2,
            ..stored.clone()
        };
        assert!(same_as_input(&input, list, &completed));
        // Any field of the input that differs is a conflict.
        assert!(!same_as_input(&input, Uuid::new_v4(), &stored));
        for other in [
            NewTodo::parse("Bread", Some("2 l"), stored.due_at).unwrap(),
            NewTodo::parse("Milk", None, stored.due_at).unwrap(),
            NewTodo::parse("Milk", Some("2 l"), None).unwrap(),
        ] {
            assert!(!same_as_input(&other, list, &stored), "{other:?}");
        }
        // The position counts only when the input chose one.
        let at_a0 = NewTodo {
            position: Some(PositionKey::parse("a0").unwrap()),
            ..input.clone()
        };
        let at_a1 = NewTodo {
            position: Some(PositionKey::parse("a1").unwrap()),
            ..input
        };
        assert!(same_as_input(&at_a0, list, &stored));
        assert!(!same_as_input(&at_a1, list, &stored));
    }
}
