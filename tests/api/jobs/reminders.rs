//! Due-date reminders: sent once lead time before a todo is due,
//! rescheduled, cancelled, and harmless when stale.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use tokio::time::Instant;

use super::{Db, FAST_POLL, JOBS_ON, Job, rfc3339};
use crate::support::{
    TestApp,
    smtp_sink::{Mail, Received, SmtpSink},
};

/// An app whose reminders go out `REMINDER_LEAD_SECS=2` before todos are due.
async fn reminder_app(sink: &SmtpSink) -> TestApp {
    let smtp = sink.url();
    TestApp::spawn_with(&[
        JOBS_ON,
        FAST_POLL,
        ("SMTP_URL", &smtp),
        ("REMINDER_LEAD_SECS", "2"),
    ])
    .await
}

/// Waits for the welcome email of each registered user and forgets it.
async fn skip_welcomes(sink: &SmtpSink, n: usize) -> usize {
    let messages = sink.wait_for(n, Duration::from_secs(10)).await;
    assert!(
        messages
            .iter()
            .all(|m| m.mail().subject() == "Welcome to todoql")
    );
    n
}

/// The reminders among `messages`.
fn reminders(messages: &[Received]) -> Vec<Mail> {
    messages
        .iter()
        .map(Received::mail)
        .filter(|m| m.subject() == "A todo is due soon")
        .collect()
}

fn due_of(job: &Job) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(job.payload["due_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_due_reminder_is_sent_once_lead_time_before_the_todo_is_due() {
    let sink = SmtpSink::start().await;
    let app = reminder_app(&sink).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("punctual").await;
    let welcomes = skip_welcomes(&sink, 1).await;

    let created = Instant::now();
    let due = Utc::now() + chrono::Duration::seconds(3);
    let todo = app
        .create_todo(
            &user,
            json!({ "title": "Water the <plants>", "dueAt": rfc3339(due) }),
        )
        .await;
    let id = todo["id"].as_str().unwrap();
    // No reminder without a due date, nor for one already past.
    let undated = app.create_todo(&user, json!({ "title": "Someday" })).await;
    let overdue = app
        .create_todo(
            &user,
            json!({ "title": "Too late", "dueAt": rfc3339(Utc::now() - chrono::Duration::minutes(5)) }),
        )
        .await;
    for other in [&undated, &overdue] {
        let jobs = db
            .jobs_where("due_reminder", "todo_id", other["id"].as_str().unwrap())
            .await;
        assert!(jobs.is_empty(), "{jobs:#?}");
    }

    let jobs = db.jobs_where("due_reminder", "todo_id", id).await;
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    let job = &jobs[0];
    let due_at = due_of(job);
    assert!((due_at - due).num_milliseconds().abs() < 1, "{job:#?}");
    assert_eq!(
        job.run_at,
        due_at - chrono::Duration::seconds(2),
        "run_at = dueAt - lead"
    );
    assert_eq!(job.payload["owner_id"], user.id.as_str());
    let key = db
        .value(&format!(
            "SELECT idempotency_key FROM jobs WHERE id = '{}'",
            job.id
        ))
        .await;
    assert_eq!(
        key,
        Some(format!("reminder:{id}:{}", due_at.timestamp_micros())),
        "one reminder per todo and due time"
    );

    let messages = sink.wait_for(welcomes + 1, Duration::from_secs(6)).await;
    let elapsed = created.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800),
        "sent {elapsed:?} after creation, before its time"
    );
    let sent = reminders(&messages);
    assert_eq!(sent.len(), 1, "{messages:#?}");
    assert_eq!(messages.last().unwrap().to, [user.email.as_str()]);
    let text = sent[0].text.as_deref().unwrap();
    let when = due_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    assert!(
        text.contains("Water the <plants>") && text.contains(&when),
        "{text}"
    );
    let html = sent[0].html.as_deref().unwrap();
    assert!(html.contains("Water the &lt;plants&gt;"), "{html}");

    // Past the due time: still one reminder, and the job is done.
    let done = db
        .wait_job(&job.id, Duration::from_secs(5), |j| j.state == "succeeded")
        .await;
    assert_eq!(done.attempts, 1);
    let until_due = (due - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_due + Duration::from_millis(500)).await;
    assert_eq!(
        reminders(&sink.messages()).len(),
        1,
        "{:#?}",
        sink.messages()
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn changing_the_due_date_reschedules_the_reminder() {
    let sink = SmtpSink::start().await;
    let app = reminder_app(&sink).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("procrastinator").await;
    let welcomes = skip_welcomes(&sink, 1).await;

    let first_due = Utc::now() + chrono::Duration::milliseconds(5000);
    let todo = app
        .create_todo(
            &user,
            json!({ "title": "File taxes", "dueAt": rfc3339(first_due) }),
        )
        .await;
    let id = todo["id"].as_str().unwrap();
    let before = db.jobs_where("due_reminder", "todo_id", id).await;
    assert_eq!(before.len(), 1);

    // A change that leaves the due date alone keeps the reminder.
    app.update_todo_ok(&user, id, json!({ "title": "File the taxes" }))
        .await;
    let same = db.jobs_where("due_reminder", "todo_id", id).await;
    assert_eq!(same.len(), 1);
    assert_eq!(same[0].id, before[0].id, "an unrelated change rescheduled");

    let new_due = Utc::now() + chrono::Duration::milliseconds(3500);
    app.update_todo_ok(&user, id, json!({ "dueAt": rfc3339(new_due) }))
        .await;
    let after = db.jobs_where("due_reminder", "todo_id", id).await;
    assert_eq!(after.len(), 1, "the old reminder must be gone: {after:#?}");
    let job = &after[0];
    assert_ne!(job.id, before[0].id);
    assert_eq!(job.state, "queued");
    let due_at = due_of(job);
    assert!((due_at - new_due).num_milliseconds().abs() < 1, "{job:#?}");
    assert_eq!(job.run_at, due_at - chrono::Duration::seconds(2));

    let messages = sink.wait_for(welcomes + 1, Duration::from_secs(8)).await;
    let sent = reminders(&messages);
    assert_eq!(sent.len(), 1);
    let text = sent[0].text.as_deref().unwrap();
    let new_when = due_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let old_when = due_of(&before[0]).to_rfc3339_opts(SecondsFormat::Secs, true);
    assert!(text.contains(&new_when), "{text}");
    if new_when != old_when {
        assert!(!text.contains(&old_when), "{text}");
    }
    db.wait_job(&job.id, Duration::from_secs(5), |j| j.state == "succeeded")
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        reminders(&sink.messages()).len(),
        1,
        "only the new one fires"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn completing_or_deleting_a_todo_cancels_its_reminder() {
    let sink = SmtpSink::start().await;
    let app = reminder_app(&sink).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("tidy").await;
    let welcomes = skip_welcomes(&sink, 1).await;

    let due = rfc3339(Utc::now() + chrono::Duration::milliseconds(3500));
    let mut ids = Vec::new();
    for title in ["Completed", "Deleted", "Kept"] {
        let todo = app
            .create_todo(&user, json!({ "title": title, "dueAt": due }))
            .await;
        let id = todo["id"].as_str().unwrap().to_owned();
        assert_eq!(db.jobs_where("due_reminder", "todo_id", &id).await.len(), 1);
        ids.push(id);
    }
    app.update_todo_ok(&user, &ids[0], json!({ "completed": true }))
        .await;
    app.delete_todo_ok(&user, &ids[1]).await;
    for id in &ids[..2] {
        let left = db.jobs_where("due_reminder", "todo_id", id).await;
        assert!(left.is_empty(), "not cancelled: {left:#?}");
    }

    // The kept one fires at the same moment the others would have.
    let messages = sink.wait_for(welcomes + 1, Duration::from_secs(6)).await;
    let kept = db.jobs_where("due_reminder", "todo_id", &ids[2]).await;
    db.wait_job(&kept[0].id, Duration::from_secs(5), |j| {
        j.state == "succeeded"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = reminders(&sink.messages());
    assert_eq!(sent.len(), 1, "{messages:#?}");
    assert!(sent[0].text.as_deref().unwrap().contains("\"Kept\""));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_stale_reminder_sends_nothing_and_succeeds() {
    let sink = SmtpSink::start().await;
    let app = reminder_app(&sink).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("fickle").await;
    let welcomes = skip_welcomes(&sink, 1).await;

    let due = rfc3339(Utc::now() + chrono::Duration::milliseconds(3500));
    let mut ids = Vec::new();
    for title in ["Moved", "Done", "Gone", "Unchanged"] {
        let todo = app
            .create_todo(&user, json!({ "title": title, "dueAt": due }))
            .await;
        ids.push(todo["id"].as_str().unwrap().to_owned());
    }
    // Changed behind the queue's back after the reminders were scheduled.
    app.sql(&format!(
        "UPDATE todos SET due_at = due_at + interval '1 hour' WHERE id = '{}'",
        ids[0]
    ))
    .await;
    app.sql(&format!(
        "UPDATE todos SET completed = true, completed_at = now() WHERE id = '{}'",
        ids[1]
    ))
    .await;
    app.sql(&format!("DELETE FROM todos WHERE id = '{}'", ids[2]))
        .await;
    let mut jobs = Vec::new();
    for id in &ids {
        let found = db.jobs_where("due_reminder", "todo_id", id).await;
        assert_eq!(found.len(), 1, "{found:#?}");
        jobs.push(found[0].id.clone());
    }
    for job in &jobs {
        let done = db
            .wait_job(job, Duration::from_secs(6), |j| j.state == "succeeded")
            .await;
        assert_eq!(done.attempts, 1, "{done:#?}");
        assert!(done.last_error.is_none(), "{done:#?}");
    }
    sink.wait_for(welcomes + 1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = reminders(&sink.messages());
    assert_eq!(
        sent.len(),
        1,
        "only the unchanged todo is reminded: {sent:#?}"
    );
    assert!(sent[0].text.as_deref().unwrap().contains("\"Unchanged\""));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn toggling_all_todos_cancels_and_reschedules_their_reminders() {
    // No workers: the reminders stay pending, to be looked at.
    let app = TestApp::spawn_with(&[("REMINDER_LEAD_SECS", "2")]).await;
    let db = Db::connect(&app.database_url).await;
    let user = app.register("batch").await;
    let soon = rfc3339(Utc::now() + chrono::Duration::hours(1));
    let past = rfc3339(Utc::now() - chrono::Duration::hours(1));
    let mut ids = Vec::new();
    for (title, due) in [("One", &soon), ("Two", &soon), ("Overdue", &past)] {
        let todo = app
            .create_todo(&user, json!({ "title": title, "dueAt": due }))
            .await;
        ids.push(todo["id"].as_str().unwrap().to_owned());
    }
    let pending = format!(
        "SELECT count(*) FROM jobs WHERE kind = 'due_reminder' AND state = 'queued'
         AND payload ->> 'owner_id' = '{}'",
        user.id
    );
    assert_eq!(db.count(&pending).await, 2);
    let keys_before = db
        .rows("SELECT idempotency_key FROM jobs WHERE kind = 'due_reminder' ORDER BY 1")
        .await;

    let toggle = "mutation($c: Boolean!) { toggleAllTodos(completed: $c) }";
    let body = app.gql_as(&user, toggle, json!({ "c": true })).await;
    assert_eq!(body["data"]["toggleAllTodos"], 3, "{body}");
    assert_eq!(db.count(&pending).await, 0, "completing all cancels");

    let body = app.gql_as(&user, toggle, json!({ "c": false })).await;
    assert_eq!(body["data"]["toggleAllTodos"], 3, "{body}");
    assert_eq!(db.count(&pending).await, 2, "reopening reschedules");
    for id in &ids[..2] {
        assert_eq!(db.jobs_where("due_reminder", "todo_id", id).await.len(), 1);
    }
    assert!(
        db.jobs_where("due_reminder", "todo_id", &ids[2])
            .await
            .is_empty(),
        "no reminder for an overdue todo"
    );
    let keys_after = db
        .rows("SELECT idempotency_key FROM jobs WHERE kind = 'due_reminder' ORDER BY 1")
        .await;
    assert_eq!(keys_before, keys_after, "same todos, same due times");
}
