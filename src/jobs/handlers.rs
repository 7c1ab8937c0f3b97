//! What each kind of job does. Handlers may run more than once (a lease
//! can expire under a slow worker), so each one checks the current state
//! before acting.

use anyhow::Context;

use super::{
    email::{Mailer, Template},
    queue::Job,
};
use crate::{
    auth::AuthService,
    todos::{TodoError, TodoService},
};

/// What handlers need.
#[derive(Clone)]
pub struct JobContext {
    /// Accounts (users, reset tokens).
    pub auth: AuthService,
    /// Todos (reminders).
    pub todos: TodoService,
    /// Outgoing email.
    pub mailer: Mailer,
}

/// Runs one job; `attempt` counts from 1.
#[cfg_attr(
    not(feature = "noop-job"),
    expect(unused_variables, reason = "only the noop job reads the attempt")
)]
pub async fn handle(ctx: &JobContext, job: Job, attempt: i32) -> anyhow::Result<()> {
    match job {
        #[cfg(feature = "noop-job")]
        Job::Noop {
            fail_attempts,
            sleep_ms,
        } => {
            if sleep_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(sleep_ms)).await;
            }
            anyhow::ensure!(
                attempt > fail_attempts,
                "failing on purpose (attempt {attempt})"
            );
            Ok(())
        }
        Job::WelcomeEmail { user_id } => {
            let Some(user) = ctx.auth.users_by_ids(&[user_id]).await?.pop() else {
                return Ok(()); // The account is gone: nobody to welcome.
            };
            let name = user
                .display_name
                .clone()
                .unwrap_or_else(|| user.email.clone());
            let email =
                Template::Welcome.render(&user.email, &[("name", &name), ("email", &user.email)]);
            ctx.mailer
                .send(email)
                .await
                .context("sending the welcome email")
        }
        Job::PasswordResetEmail { user_id } => {
            let Some((user, token)) = ctx.auth.issue_reset_token(user_id).await? else {
                return Ok(());
            };
            let name = user
                .display_name
                .clone()
                .unwrap_or_else(|| user.email.clone());
            let email = Template::PasswordReset.render(
                &user.email,
                &[("name", &name), ("email", &user.email), ("token", &token)],
            );
            ctx.mailer
                .send(email)
                .await
                .context("sending the password-reset email")
        }
        Job::DueReminder {
            todo_id,
            owner_id,
            due_at,
        } => {
            let todo = match ctx.todos.get(owner_id, todo_id).await {
                Ok(todo) => todo,
                Err(TodoError::NotFound) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            // Changed since it was scheduled (rescheduled, completed): stale.
            if todo.completed || todo.due_at != Some(due_at) {
                return Ok(());
            }
            let Some(user) = ctx.auth.users_by_ids(&[owner_id]).await?.pop() else {
                return Ok(());
            };
            let name = user
                .display_name
                .clone()
                .unwrap_or_else(|| user.email.clone());
            let due = due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let email = Template::DueReminder.render(
                &user.email,
                &[("name", &name), ("title", &todo.title), ("due_at", &due)],
            );
            ctx.mailer
                .send(email)
                .await
                .context("sending a due-date reminder")
        }
    }
}
