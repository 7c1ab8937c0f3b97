//! What each kind of job does. Handlers may run more than once (a lease
//! can expire under a slow worker), so each one checks the current state
//! before acting.

use anyhow::Context;

use super::{
    email::{Mailer, Template},
    queue::Job,
};
use crate::{
    auth::{AuthService, model::User, verification_code},
    lists::ListService,
    todos::{TodoError, TodoService},
};

/// What handlers need.
#[derive(Clone)]
pub struct JobContext {
    /// Accounts (users, reset tokens).
    pub auth: AuthService,
    /// Todos (reminders).
    pub todos: TodoService,
    /// Lists (invitations).
    pub lists: ListService,
    /// Outgoing email.
    pub mailer: Mailer,
    /// Where the web app is (`APP_URL`), for links in emails.
    pub app_url: String,
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
        Job::WelcomeEmail { user_id, code_id } => {
            verification_email(ctx, Template::Welcome, user_id, code_id)
                .await
                .context("sending the welcome email")
        }
        Job::VerificationEmail { user_id, code_id } => {
            verification_email(ctx, Template::VerifyEmail, user_id, Some(code_id))
                .await
                .context("sending a verification email")
        }
        Job::PasswordResetEmail { user_id } => {
            let Some((user, token)) = ctx.auth.issue_reset_token(user_id).await? else {
                return Ok(());
            };
            let name = name_of(&user);
            let email = Template::PasswordReset.render(
                &user.email,
                &[("name", &name), ("email", &user.email), ("token", &token)],
            );
            ctx.mailer
                .send(email)
                .await
                .context("sending the password-reset email")
        }
        Job::ListInvitationEmail { invitation_id } => {
            let Some(view) = ctx.lists.invitation(invitation_id).await? else {
                return Ok(());
            };
            // Answered or withdrawn meanwhile: nothing to tell.
            if !view.row.pending(chrono::Utc::now()) {
                return Ok(());
            }
            let inviter = view.inviter_name.as_deref().unwrap_or(&view.inviter_email);
            let link = format!(
                "{}/app#invitation={}",
                ctx.app_url.trim_end_matches('/'),
                view.row.id
            );
            let expires = view
                .row
                .expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let email = Template::ListInvitation.render(
                &view.row.email,
                &[
                    ("inviter", inviter),
                    ("email", &view.row.email),
                    ("list", &view.list_name),
                    ("role", &view.row.role),
                    ("link", &link),
                    ("expires_at", &expires),
                ],
            );
            ctx.mailer
                .send(email)
                .await
                .context("sending a list invitation")
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
            let name = name_of(&user);
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

/// How emails greet the user.
fn name_of(user: &User) -> String {
    user.display_name
        .clone()
        .unwrap_or_else(|| user.email.clone())
}

/// Mints the code of the verification email `code_id` and sends it with
/// `template`. Nothing is sent when the user is gone or already verified,
/// or a newer code replaced this one (its own email is on its way).
async fn verification_email(
    ctx: &JobContext,
    template: Template,
    user_id: uuid::Uuid,
    code_id: Option<uuid::Uuid>,
) -> anyhow::Result<()> {
    let Some((user, code)) = ctx.auth.issue_verification_code(user_id, code_id).await? else {
        return Ok(());
    };
    let link = verification_code::link(&ctx.app_url, &code);
    let email = template.render(
        &user.email,
        &[
            ("name", &name_of(&user)),
            ("email", &user.email),
            ("code", &code.display()),
            ("link", &link),
        ],
    );
    ctx.mailer.send(email).await
}
