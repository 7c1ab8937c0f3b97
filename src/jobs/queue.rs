//! Enqueuing: the typed job kinds and the function other features call on
//! their own connection, inside their own transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{self, NewJobRow};
use crate::db::Conn;

/// Every kind of job, with its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Job {
    /// Does nothing: the queue tests and the jobs benchmark (feature
    /// `noop-job`, which only tests and benches turn on).
    #[cfg(feature = "noop-job")]
    Noop {
        /// Fail this many attempts first (tests of retries).
        #[serde(default)]
        fail_attempts: i32,
        /// Take this long (tests of leases and shutdown).
        #[serde(default)]
        sleep_ms: u64,
    },
    /// The welcome email after registration, which is also the first
    /// email verification email.
    WelcomeEmail {
        /// The new account.
        user_id: Uuid,
        /// Its verification code row (the handler mints the code). Absent
        /// from jobs enqueued before email verification existed: the
        /// handler then writes a row itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code_id: Option<Uuid>,
    },
    /// A new email verification code (`resendVerification`); the handler
    /// mints the code, so no usable code ever sits in the queue.
    VerificationEmail {
        /// The account.
        user_id: Uuid,
        /// The code row the email is for.
        code_id: Uuid,
    },
    /// A password-reset email (the handler mints the token, so no usable
    /// token ever sits in the queue).
    PasswordResetEmail {
        /// The account.
        user_id: Uuid,
    },
    /// An invitation to a list, to the invited address.
    ListInvitationEmail {
        /// The invitation; nothing is sent once it is no longer pending.
        invitation_id: Uuid,
    },
    /// A reminder that a todo is due soon.
    DueReminder {
        /// The todo.
        todo_id: Uuid,
        /// Its owner.
        owner_id: Uuid,
        /// The due time it was scheduled for; if the todo's differs when
        /// the job runs, the reminder is stale and does nothing.
        due_at: DateTime<Utc>,
    },
}

impl Job {
    /// The kind's name, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            #[cfg(feature = "noop-job")]
            Self::Noop { .. } => "noop",
            Self::WelcomeEmail { .. } => "welcome_email",
            Self::VerificationEmail { .. } => "verification_email",
            Self::PasswordResetEmail { .. } => "password_reset_email",
            Self::ListInvitationEmail { .. } => "list_invitation_email",
            Self::DueReminder { .. } => "due_reminder",
        }
    }

    /// Parses a stored kind and payload.
    pub fn from_row(kind: &str, payload: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
    }

    fn payload(&self) -> serde_json::Value {
        serde_json::to_value(self)
            .ok()
            .and_then(|mut v| v.get_mut("payload").map(serde_json::Value::take))
            .unwrap_or(serde_json::Value::Null)
    }
}

/// Enqueues `job` to run at `run_at` (now when `None`). With an
/// `idempotency_key`, a job with the same key already queued or done makes
/// this a no-op. Call it inside the transaction of the change it belongs to.
pub async fn enqueue(
    conn: &Conn,
    job: &Job,
    run_at: Option<DateTime<Utc>>,
    idempotency_key: Option<&str>,
) -> diesel::QueryResult<bool> {
    // The enqueuing request's trace, so the job's span can link to it.
    let trace_context = crate::telemetry::current_traceparent();
    model::insert(
        conn,
        &NewJobRow {
            id: Uuid::now_v7(),
            kind: job.kind(),
            payload: job.payload(),
            run_at: run_at.unwrap_or_else(Utc::now),
            idempotency_key,
            trace_context: trace_context.as_deref(),
        },
    )
    .await
}

/// Cancels the pending reminders of these todos.
pub async fn cancel_reminders(conn: &Conn, todo_ids: &[Uuid]) -> diesel::QueryResult<usize> {
    let ids: Vec<String> = todo_ids.iter().map(Uuid::to_string).collect();
    model::cancel_pending(conn, "due_reminder", "todo_id", &ids).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_payloads_round_trip() {
        let jobs = [
            #[cfg(feature = "noop-job")]
            Job::Noop {
                fail_attempts: 2,
                sleep_ms: 5,
            },
            Job::WelcomeEmail {
                user_id: Uuid::now_v7(),
                code_id: Some(Uuid::now_v7()),
            },
            Job::WelcomeEmail {
                user_id: Uuid::now_v7(),
                code_id: None,
            },
            Job::VerificationEmail {
                user_id: Uuid::now_v7(),
                code_id: Uuid::now_v7(),
            },
            Job::PasswordResetEmail {
                user_id: Uuid::now_v7(),
            },
            Job::ListInvitationEmail {
                invitation_id: Uuid::now_v7(),
            },
            Job::DueReminder {
                todo_id: Uuid::now_v7(),
                owner_id: Uuid::now_v7(),
                due_at: Utc::now(),
            },
        ];
        for job in jobs {
            assert_eq!(Job::from_row(job.kind(), job.payload()).unwrap(), job);
        }
        assert!(Job::from_row("unknown", serde_json::json!({})).is_err());
        // Older payloads without optional fields still parse.
        let user_id = Uuid::now_v7();
        assert_eq!(
            Job::from_row("welcome_email", serde_json::json!({ "user_id": user_id })).unwrap(),
            Job::WelcomeEmail {
                user_id,
                code_id: None
            }
        );
        #[cfg(feature = "noop-job")]
        assert_eq!(
            Job::from_row("noop", serde_json::json!({})).unwrap(),
            Job::Noop {
                fail_attempts: 0,
                sleep_ms: 0
            }
        );
    }
}
