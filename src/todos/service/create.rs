//! `createTodo`: a new todo first in its list or at the key the client
//! chose, under a server-made id or one the client chose. A creation
//! repeated with a client-chosen id (its first answer was lost) is
//! answered with the todo it made, without a second event.

use uuid::Uuid;

use super::{
    TodoService, first_key_before,
    moves::{REBALANCE_AT, rebalance},
    now, schedule_reminder,
    write::{Failed, mismatch},
};
use crate::{
    db::pipeline,
    events::{
        EventKind,
        service::{self as events, todo_changes},
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
    ///
    /// Three round trips to PostgreSQL (see [`crate::db::pipeline`]):
    /// `BEGIN`, the audience lock, the members and the first position in
    /// one write; the todo's insert with its events (their snapshot is the
    /// row as it will be inserted, built here) and its reminder in the
    /// next; `COMMIT` with the read of the events' numbers in the last.
    #[tracing::instrument(skip_all, fields(user.id = %actor, list.id = %list))]
    pub async fn create(
        &self,
        actor: Uuid,
        list: Uuid,
        todo: NewTodo,
    ) -> Result<TodoRow, TodoError> {
        let mut conn = self.db.conn().await?;
        let at = now();
        let id = todo.id.unwrap_or_else(Uuid::now_v7);
        let created = pipeline::run(&mut conn, async |conn| {
            let (_, audience, first) = futures_util::try_join!(
                async { Ok::<_, Failed>(pipeline::begin(conn).await?) },
                async {
                    Ok(guard::enter(conn, list, actor, Action::WriteTodos)
                        .await
                        .map_err(TodoError::from)?)
                },
                async {
                    // A chosen position needs no read (and sends none).
                    match todo.position {
                        Some(_) => Ok(None),
                        None => Ok(model::first_position(conn, list).await?),
                    }
                },
            )?;
            // Two todos created at once may get the same key: ties are
            // broken by id, so the order stays total.
            let position = match &todo.position {
                Some(key) => key.clone(),
                None => first_key_before(first.as_deref())?,
            };
            let new = NewTodoRow {
                id,
                owner_id: actor,
                list_id: list,
                position: position.as_str(),
                title: todo.title.as_str(),
                description: todo.description.as_ref().map(|d| d.as_str()),
                due_at: todo.due_at,
                created_at: at,
                updated_at: at,
            };
            let (row, events) = if position.as_str().len() > REBALANCE_AT {
                // Rare (a key grown past the limit): one statement at a time.
                let row = model::insert_new(conn, &new).await?.ok_or(Failed::Taken)?;
                let mut changes = todo_changes(
                    &audience.users(),
                    EventKind::Created,
                    list,
                    std::slice::from_ref(&row),
                );
                let rebalanced = rebalance(conn, list).await?;
                let row = rebalanced
                    .iter()
                    .find(|r| r.id == id)
                    .cloned()
                    .unwrap_or(row);
                changes.extend(todo_changes(
                    &audience.users(),
                    EventKind::Updated,
                    list,
                    &rebalanced,
                ));
                let events = events::record(conn, changes).await?;
                schedule_reminder(conn, &row, self.reminder_lead).await?;
                (row, events)
            } else {
                // The events carry the row as inserted, known before the
                // insert answers: it is the input with the columns'
                // defaults. Were the id taken, the insert writes nothing and
                // the transaction (events included) is rolled back below.
                let expected = as_inserted(&new);
                let (inserted, events, ()) = futures_util::try_join!(
                    async { Ok::<_, Failed>(model::insert_new(conn, &new).await?) },
                    async {
                        Ok(events::record(
                            conn,
                            todo_changes(
                                &audience.users(),
                                EventKind::Created,
                                list,
                                std::slice::from_ref(&expected),
                            ),
                        )
                        .await?)
                    },
                    async { Ok(schedule_reminder(conn, &expected, self.reminder_lead).await?) },
                )?;
                let row = inserted.ok_or(Failed::Taken)?;
                if row != expected {
                    return Err(mismatch(id).into());
                }
                (row, events)
            };
            pipeline::commit(conn, async {
                let numbers = events::numbers(conn, &events).await;
                (row, events, numbers)
            })
            .await
            .map_err(Failed::from)
        })
        .await;
        match created {
            Ok((row, events, numbers)) => {
                // Cached reads need no invalidation: the change moved every
                // member's data version in the same transaction.
                self.events.deliver(events, numbers);
                Ok(row)
            }
            // The id is taken (rolled back): answer as a repeat.
            Err(Failed::Taken) => repeated(&conn, actor, list, id, &todo).await,
            Err(Failed::Todo(e)) => Err(e),
            // Not a thing creating does.
            Err(Failed::Moved) => Err(TodoError::NotFound),
        }
    }
}

/// The row inserting `new` makes: its fields and the columns' defaults
/// (not completed, version 1, in no trash). What `createTodo` puts in its
/// events' snapshots before the insert has answered, so the two go to
/// PostgreSQL in one write; the insert's answer is checked against it.
fn as_inserted(new: &NewTodoRow<'_>) -> TodoRow {
    TodoRow {
        id: new.id,
        owner_id: new.owner_id,
        title: new.title.to_owned(),
        description: new.description.map(str::to_owned),
        completed: false,
        due_at: new.due_at,
        completed_at: None,
        created_at: new.created_at,
        updated_at: new.updated_at,
        version: 1,
        list_id: new.list_id,
        position: new.position.to_owned(),
        deleted_at: None,
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
    conn: &crate::db::Conn,
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
