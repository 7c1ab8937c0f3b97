//! The pipelined shape of a todo write (see `db::pipeline`): `BEGIN`, the
//! audience lock and members of the todo's list and the todo's row lock
//! in one write ([`enter`]); the write itself with its events in the next
//! ([`TodoService::apply_update`]); `COMMIT` with the read of the events'
//! numbers in the last. The lock order is the one of every todo write
//! (audience, then row): the statements run in the order they were sent.

use uuid::Uuid;

use super::{TodoService, merge, now, schedule_reminder};
use crate::{
    db::{Conn, pipeline},
    events::{
        EventKind,
        service::{self as events, Recorded, todo_changes},
    },
    jobs,
    lists::{
        access::{Action, Denied},
        audience,
        guard::{self, Audience, Refused},
    },
    todos::{
        TodoError,
        domain::{Patch, TodoPatch},
        model::{self, FieldVersionChanges, TodoChanges, TodoRow},
    },
};

/// Why a pipelined write transaction ended without its result (it was
/// rolled back).
pub(super) enum Failed {
    /// `createTodo`: the id is taken, the insert wrote nothing.
    Taken,
    /// The todo moved to another list while its list was being entered:
    /// enter it the slow way (`super::enter_todo`), in a new transaction.
    Moved,
    /// Anything else: the write's answer.
    Todo(TodoError),
}

impl<E: Into<TodoError>> From<E> for Failed {
    fn from(e: E) -> Self {
        Self::Todo(e.into())
    }
}

/// Sends `BEGIN`, locks the audience of live todo `id`'s list, reads its
/// members and locks the todo, in one write, and checks that `actor` may
/// do `action` there. A todo that is not live, or in a list the actor is
/// not a member of, is `NotFound` (as in `super::enter_todo`); `Moved`
/// when the statements found the todo in different lists.
pub(super) async fn enter(
    conn: &Conn,
    actor: Uuid,
    id: Uuid,
    action: Action,
) -> Result<(Audience, TodoRow), Failed> {
    let (_, locked, (listed, members), row) = futures_util::try_join!(
        pipeline::begin(conn),
        audience::lock_of_todo(conn, id),
        audience::members_of_todo(conn, id),
        model::lock_live(conn, id),
    )?;
    let Some(list) = locked else {
        return Err(TodoError::NotFound.into());
    };
    match (listed, row) {
        (Some(listed), Some(row)) if listed == list && row.list_id == list => {
            let audience = guard::admit(members, actor, action).map_err(|e| match e {
                Refused::Denied(Denied::Missing) => TodoError::NotFound,
                other => other.into(),
            })?;
            Ok((audience, row))
        }
        _ => Err(Failed::Moved),
    }
}

/// Sends `COMMIT` with the read of `events`' numbers (one round trip).
pub(super) async fn commit<T>(
    conn: &Conn,
    value: T,
    events: Recorded,
) -> Result<pipeline::Committed<(T, Recorded, diesel::QueryResult<Vec<(i64, i64)>>)>, Failed> {
    Ok(pipeline::commit(conn, async {
        let numbers = events::numbers(conn, &events).await;
        (value, events, numbers)
    })
    .await?)
}

impl TodoService {
    /// The body of `updateTodo` once the todo is locked as `current` in a
    /// list of `audience`: checks, writes the todo and its events (sent
    /// together: the events carry the row as it will be written), and
    /// reschedules its reminder.
    pub(super) async fn apply_update(
        &self,
        conn: &Conn,
        audience: &Audience,
        current: TodoRow,
        patch: &TodoPatch,
    ) -> Result<(TodoRow, Recorded), TodoError> {
        if let Some(expected) = patch.expected_version
            && expected != current.version
        {
            return Err(TodoError::VersionConflict {
                expected,
                actual: current.version,
                current: Box::new(current.current()),
            });
        }
        let title = match &patch.title {
            Patch::Set(t) => t.as_str(),
            Patch::Keep => current.title.as_str(),
        };
        let description = match &patch.description {
            Patch::Set(d) => d.as_ref().map(|d| d.as_str()),
            Patch::Keep => current.description.as_deref(),
        };
        let completed = match patch.completed {
            Patch::Set(c) => c,
            Patch::Keep => current.completed,
        };
        let due_at = match patch.due_at {
            Patch::Set(d) => d,
            Patch::Keep => current.due_at,
        };
        // Under the row lock: no write of this todo comes between the
        // check and the write below. Only the input's fields whose value
        // differs from the todo's can conflict: two devices that made the
        // same change (both completed it) agree, as a three-way merge has it.
        if let Some(base) = patch.base_version {
            let differing: Vec<&'static str> = patch
                .fields()
                .into_iter()
                .filter(|field| match *field {
                    "title" => title != current.title,
                    "description" => description != current.description.as_deref(),
                    "completed" => completed != current.completed,
                    "dueAt" => due_at != current.due_at,
                    _ => true,
                })
                .collect();
            merge::check(conn, &current, base, &differing).await?;
        }
        let unchanged = title == current.title
            && description == current.description.as_deref()
            && completed == current.completed
            && due_at == current.due_at;
        if unchanged {
            return Ok((current, Recorded::default()));
        }
        let at = now();
        let completed_at = match (current.completed, completed) {
            (false, true) => Some(at),
            (_, false) => None,
            (true, true) => current.completed_at,
        };
        let version = current.version + 1;
        let changed = |yes: bool| yes.then_some(version);
        let versions = FieldVersionChanges {
            title_version: changed(title != current.title),
            description_version: changed(description != current.description.as_deref()),
            completed_version: changed(completed != current.completed),
            due_at_version: changed(due_at != current.due_at),
        };
        // The row as the UPDATE below writes it, for the events sent with it.
        let expected = TodoRow {
            title: title.to_owned(),
            description: description.map(str::to_owned),
            completed,
            due_at,
            completed_at,
            updated_at: at,
            version,
            ..current.clone()
        };
        let reschedule = due_at != current.due_at || completed != current.completed;
        let (row, events, ()) = futures_util::try_join!(
            async {
                Ok::<_, TodoError>(
                    model::update(
                        conn,
                        current.id,
                        &TodoChanges {
                            title,
                            description,
                            completed,
                            due_at,
                            completed_at,
                            updated_at: at,
                            version,
                        },
                        &versions,
                    )
                    .await?,
                )
            },
            async {
                Ok(events::record(
                    conn,
                    todo_changes(
                        &audience.users(),
                        EventKind::Updated,
                        current.list_id,
                        std::slice::from_ref(&expected),
                    ),
                )
                .await?)
            },
            async {
                // A new due time reschedules the reminder; completing cancels it.
                if reschedule {
                    jobs::queue::cancel_reminders(conn, &[current.id]).await?;
                    schedule_reminder(conn, &expected, self.reminder_lead).await?;
                }
                Ok(())
            },
        )?;
        if row != expected {
            return Err(mismatch(current.id));
        }
        Ok((row, events))
    }

    /// `updateTodo`'s transaction, pipelined: four round trips with the
    /// viewer's row, whatever the list. Falls back to entering the list
    /// the slow way when the todo moved meanwhile.
    pub(super) async fn update_pipelined(
        &self,
        actor: Uuid,
        id: Uuid,
        patch: TodoPatch,
    ) -> Result<TodoRow, TodoError> {
        let mut conn = self.db.conn().await?;
        let done = pipeline::run(&mut conn, async |conn| {
            let (audience, current) = enter(conn, actor, id, Action::WriteTodos).await?;
            let (row, events) = self.apply_update(conn, &audience, current, &patch).await?;
            commit(conn, row, events).await
        })
        .await;
        let (row, events, numbers) = match done {
            Ok(done) => done,
            Err(Failed::Moved) => {
                use diesel_async::AsyncConnection;
                let (row, events) = conn
                    .transaction::<_, TodoError, _>(async |conn| {
                        let (audience, current) =
                            super::enter_todo(conn, actor, id, Action::WriteTodos).await?;
                        self.apply_update(conn, &audience, current, &patch).await
                    })
                    .await?;
                let numbers = events::numbers(&conn, &events).await;
                (row, events, numbers)
            }
            Err(Failed::Taken) => return Err(TodoError::NotFound),
            Err(Failed::Todo(e)) => return Err(e),
        };
        self.events.deliver(events, numbers);
        Ok(row)
    }
}

/// The error of a write whose row, as PostgreSQL returned it, is not the
/// one its events describe (a column default or trigger this code does
/// not know of): nothing is written, and the cause is logged.
pub(super) fn mismatch(id: Uuid) -> TodoError {
    tracing::error!(todo.id = %id, "a written todo differs from its events' snapshot");
    TodoError::Db(crate::db::DbError::Query(
        diesel::result::Error::QueryBuilderError(
            "a written todo differs from its events' snapshot".into(),
        ),
    ))
}
