//! Invitations: the email an invitation sends, CONFLICT for members and
//! pending addresses, `invitations` only for a verified address, accepting
//! (the address first, then its verification, then expiry), declining and
//! withdrawing, and an address that registers after it was invited.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{assert_ok, assert_refused};
use crate::support::{
    PASSWORD, SESSION, TestApp, TestUser, error_code,
    smtp_sink::{Received, SmtpSink},
    unique_email,
};

/// Registers `email` with `display_name`; the user, signed in.
async fn register_as(app: &TestApp, email: &str, display_name: &str) -> TestUser {
    let body = app
        .register_with(email, PASSWORD, Some(display_name), SESSION)
        .await;
    let payload = &body["data"]["register"];
    assert!(payload.is_object(), "register failed: {body}");
    TestUser {
        id: payload["user"]["id"].as_str().unwrap().to_owned(),
        email: email.to_owned(),
        access_token: payload["accessToken"].as_str().unwrap().to_owned(),
        refresh_token: payload["refreshToken"].as_str().unwrap().to_owned(),
    }
}

fn utc(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"))
        .parse()
        .unwrap()
}

async fn email_verified(app: &TestApp, user: &TestUser) -> Value {
    app.data_as(user, "{ me { emailVerified } }", json!({}))
        .await["me"]["emailVerified"]
        .clone()
}

async fn pending_emails(app: &TestApp, owner: &TestUser, list: &str) -> Vec<String> {
    let data = app
        .data_as(
            owner,
            "query($id: ID!) { list(id: $id) { pendingInvitations { email } } }",
            json!({ "id": list }),
        )
        .await;
    let mut emails: Vec<String> = data["list"]["pendingInvitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap().to_lowercase())
        .collect();
    emails.sort();
    emails
}

#[tokio::test]
async fn an_invitation_emails_a_link_the_inviters_name_and_the_list_name_escaped() {
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(&[
        ("JOBS_IN_PROCESS", "true"),
        ("JOB_POLL_INTERVAL_MS", "100"),
        ("SMTP_URL", &smtp),
        ("MAIL_FROM", "todoql tests <robot@todoql.test>"),
    ])
    .await;
    let inviter_name = r#"Ann <i>"the boss"</i>"#;
    let alice = register_as(&app, &unique_email("ann"), inviter_name).await;
    let list_name = r#"<script>alert("x")</script> & Co"#;
    let list = app.create_list_id(&alice, list_name).await;
    let invitee = unique_email("invitee");
    app.invite_ok(&alice, &list, &invitee, "EDITOR").await;

    // The welcome email to Alice, and the invitation.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let invitation: Received = loop {
        let messages = sink.wait_for(1, Duration::from_secs(10)).await;
        if let Some(m) = messages.iter().find(|m| m.to.iter().any(|t| t == &invitee)) {
            break m.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no invitation email: {messages:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mail = invitation.mail();
    let text = mail.text.as_deref().expect("a text/plain part");
    let html = mail.html.as_deref().expect("a text/html part");
    // Raw in the text part.
    assert!(text.contains(inviter_name), "inviter's name in:\n{text}");
    assert!(text.contains(list_name), "list name in:\n{text}");
    // Escaped in the HTML part.
    assert!(
        html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co")
            || html.contains("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co")
            || html.contains("&lt;script&gt;alert(&#x22;x&#x22;)&lt;/script&gt; &amp; Co"),
        "escaped list name in:\n{html}"
    );
    assert!(
        !html.contains("<script>"),
        "unescaped list name in:\n{html}"
    );
    assert!(
        !html.contains("<i>\"the boss\"</i>"),
        "unescaped inviter in:\n{html}"
    );
    assert!(
        html.contains("Ann &lt;i&gt;"),
        "escaped inviter in:\n{html}"
    );
    // contract-silent: the link opens the web app (served at /app).
    assert!(text.contains("/app"), "no link to the web app in:\n{text}");
    assert!(
        html.contains("href=\"") && html.contains("/app"),
        "no link in:\n{html}"
    );
    assert!(
        !text.contains("{{") && !html.contains("{{"),
        "unfilled placeholders"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn inviting_a_member_or_an_address_already_invited_is_conflict() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "Popular").await;
    let other = app.create_list_id(&alice, "Other").await;
    app.invite_and_accept(&alice, &list, &bob, "VIEWER").await;
    let carol = unique_email("carol");
    let invitation = app.invite_ok(&alice, &list, &carol, "EDITOR").await;
    assert_eq!(invitation["email"], carol.as_str());
    assert_eq!(invitation["role"], "EDITOR");
    assert_eq!(invitation["list"]["id"], list.as_str());
    assert_eq!(invitation["invitedBy"]["id"], alice.id.as_str());

    // contract-silent: addresses compare case-insensitively here too.
    for email in [
        bob.email.clone(),
        bob.email.to_uppercase(),
        alice.email.clone(),
        carol.clone(),
        carol.to_uppercase(),
    ] {
        let body = app.invite(&alice, &list, &email, "VIEWER").await;
        assert_refused(&body, "CONFLICT", &format!("inviting {email}"));
    }
    assert_eq!(pending_emails(&app, &alice, &list).await, [carol.as_str()]);
    // The same address may be invited to another list.
    app.invite_ok(&alice, &other, &carol, "VIEWER").await;
    // contract-silent: an address that is not one is BAD_USER_INPUT.
    let body = app.invite(&alice, &list, "not an address", "VIEWER").await;
    assert_refused(&body, "BAD_USER_INPUT", "inviting a non-address");

    // Once withdrawn, it is no longer pending: it may be invited again.
    let body = app
        .cancel_invitation(&alice, invitation["id"].as_str().unwrap())
        .await;
    assert_eq!(assert_ok(&body, "withdraw")["cancelInvitation"], true);
    assert!(pending_emails(&app, &alice, &list).await.is_empty());
    app.invite_ok(&alice, &list, &carol, "VIEWER").await;
}

#[tokio::test]
async fn invitations_show_once_the_address_is_verified() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "Welcome").await;
    app.invite_ok(&alice, &list, &unique_email("someone"), "VIEWER")
        .await;
    let sent = app.invite_ok(&alice, &list, &bob.email, "EDITOR").await;

    assert_eq!(email_verified(&app, &bob).await, false);
    assert!(
        app.invitations_of(&bob).await.is_empty(),
        "before verification"
    );
    app.verify_email_in_db(&bob).await;
    assert_eq!(email_verified(&app, &bob).await, true);
    let invitations = app.invitations_of(&bob).await;
    assert_eq!(invitations.len(), 1, "{invitations:?}");
    let invitation = &invitations[0];
    assert_eq!(invitation, &sent);
    assert_eq!(invitation["list"], json!({ "id": list, "name": "Welcome" }));
    assert_eq!(invitation["role"], "EDITOR");
    assert_eq!(invitation["email"], bob.email.as_str());
    assert_eq!(
        invitation["invitedBy"],
        json!({ "id": alice.id, "email": alice.email, "displayName": "alice" })
    );
    let lapse = utc(&invitation["expiresAt"]) - utc(&invitation["createdAt"]);
    assert!(
        (lapse - chrono::Duration::days(14)).num_seconds().abs() <= 60,
        "invitations lapse after 14 days, not {lapse}"
    );
    // Nothing of it for anyone else.
    assert!(app.invitations_of(&alice).await.is_empty());
}

#[tokio::test]
async fn accepting_checks_the_address_first_then_its_verification() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let list = app.create_list_id(&alice, "Very private name").await;
    let invitation = app.invite_ok(&alice, &list, &bob.email, "EDITOR").await;
    let id = invitation["id"].as_str().unwrap();

    // Someone else's invitation: NOT_FOUND, verified or not.
    let body = app.accept_invitation(&carol, id).await;
    assert_refused(&body, "NOT_FOUND", "carol, unverified");
    app.verify_email_in_db(&carol).await;
    let body = app.accept_invitation(&carol, id).await;
    assert_refused(&body, "NOT_FOUND", "carol, verified");
    for unknown in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        let body = app.accept_invitation(&bob, &unknown).await;
        assert_refused(&body, "NOT_FOUND", &format!("invitation {unknown}"));
    }

    // The invitee, unverified: EMAIL_NOT_VERIFIED, telling nothing of the list.
    for body in [
        app.accept_invitation(&bob, id).await,
        app.cancel_invitation(&bob, id).await,
    ] {
        assert_refused(&body, "EMAIL_NOT_VERIFIED", "bob, unverified");
        let errors = body["errors"].to_string();
        assert!(
            !errors.contains("Very private name") && !errors.contains(&list),
            "the refusal reveals the list: {errors}"
        );
    }
    assert!(app.get_list(&bob, &list).await.is_null());
    assert_eq!(
        pending_emails(&app, &alice, &list).await,
        [bob.email.as_str()]
    );

    app.verify_email_in_db(&bob).await;
    let body = app.accept_invitation(&bob, id).await;
    let joined = assert_ok(&body, "bob accepts")["acceptInvitation"].clone();
    assert_eq!(joined["id"], list.as_str());
    assert_eq!(joined["role"], "EDITOR");
    assert_eq!(joined["isDefault"], false);
    assert_eq!(joined["owner"]["id"], alice.id.as_str());
    // contract-silent: a joined list goes after the joiner's other lists.
    let lists = app.lists_of(&bob).await;
    assert_eq!(lists.len(), 2);
    assert_eq!(lists[1]["id"], list.as_str());
    assert_eq!(lists[1]["role"], "EDITOR");
    assert!(app.invitations_of(&bob).await.is_empty());
    assert!(pending_emails(&app, &alice, &list).await.is_empty());
    // Accepted once; then it is no longer pending. contract-silent: an
    // invitation that is not pending is NOT_FOUND to accept.
    let body = app.accept_invitation(&bob, id).await;
    assert_refused(&body, "NOT_FOUND", "accepting twice");

    // The address matches whatever its case.
    let second = app.create_list_id(&alice, "Second").await;
    let upper = app
        .invite_ok(&alice, &second, &bob.email.to_uppercase(), "VIEWER")
        .await;
    assert_eq!(app.invitations_of(&bob).await.len(), 1);
    let body = app
        .accept_invitation(&bob, upper["id"].as_str().unwrap())
        .await;
    assert_eq!(
        assert_ok(&body, "accept")["acceptInvitation"]["role"],
        "VIEWER"
    );
}

#[tokio::test]
async fn an_expired_invitation_cannot_be_accepted() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.verify_email_in_db(&bob).await;
    let list = app.create_list_id(&alice, "Too late").await;
    let invitation = app.invite_ok(&alice, &list, &bob.email, "EDITOR").await;
    let id = invitation["id"].as_str().unwrap();
    app.sql(&format!(
        "UPDATE list_invitations SET expires_at = now() - interval '1 minute' WHERE id = '{id}'"
    ))
    .await;

    assert!(
        app.invitations_of(&bob).await.is_empty(),
        "an expired one is not pending"
    );
    let body = app.accept_invitation(&bob, id).await;
    // contract-silent: which code; a lapsed invitation is gone (NOT_FOUND)
    // or refused as input (BAD_USER_INPUT).
    let code = error_code(&body);
    assert!(code == "NOT_FOUND" || code == "BAD_USER_INPUT", "{body}");
    assert!(app.get_list(&bob, &list).await.is_null());
    assert_eq!(app.lists_of(&bob).await.len(), 1);
    // contract-silent: it is no longer pending for the owner either, and the
    // address may be invited anew.
    assert!(pending_emails(&app, &alice, &list).await.is_empty());
    let again = app.invite_ok(&alice, &list, &bob.email, "EDITOR").await;
    let body = app
        .accept_invitation(&bob, again["id"].as_str().unwrap())
        .await;
    assert_ok(&body, "accepting the new invitation");
}

#[tokio::test]
async fn the_invitee_declines_or_the_owner_withdraws() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    let mallory = app.register("mallory").await;
    app.verify_email_in_db(&mallory).await;
    let list = app.create_list_id(&alice, "Cancellable").await;
    app.invite_and_accept(&alice, &list, &dave, "EDITOR").await;
    let to_bob = app.invite_ok(&alice, &list, &bob.email, "EDITOR").await;
    let to_carol = app.invite_ok(&alice, &list, &carol.email, "VIEWER").await;
    let to_erin = app
        .invite_ok(&alice, &list, &unique_email("erin"), "VIEWER")
        .await;
    let [bob_id, carol_id, erin_id] =
        [&to_bob, &to_carol, &to_erin].map(|i| i["id"].as_str().unwrap().to_owned());

    // Declining needs a verified address.
    let body = app.cancel_invitation(&bob, &bob_id).await;
    assert_refused(&body, "EMAIL_NOT_VERIFIED", "bob, unverified");
    app.verify_email_in_db(&bob).await;
    let cancel = |user: &TestUser, id: &str| {
        let (app, user, id) = (&app, user.clone(), id.to_owned());
        async move { app.cancel_invitation(&user, &id).await }
    };
    assert_eq!(
        assert_ok(&cancel(&bob, &bob_id).await, "decline")["cancelInvitation"],
        true
    );
    assert_eq!(
        assert_ok(&cancel(&bob, &bob_id).await, "again")["cancelInvitation"],
        false
    );
    let body = app.accept_invitation(&bob, &bob_id).await;
    assert_refused(&body, "NOT_FOUND", "accepting a declined invitation");

    // The owner withdraws.
    assert_eq!(
        assert_ok(&cancel(&alice, &carol_id).await, "withdraw")["cancelInvitation"],
        true
    );
    assert_eq!(
        assert_ok(&cancel(&alice, &carol_id).await, "again")["cancelInvitation"],
        false
    );
    app.verify_email_in_db(&carol).await;
    assert_eq!(
        assert_ok(&cancel(&carol, &carol_id).await, "after")["cancelInvitation"],
        false
    );
    assert!(app.invitations_of(&carol).await.is_empty());

    // Nobody else may: an EDITOR is FORBIDDEN (a member whose role does
    // not allow it); contract-silent: a stranger gets NOT_FOUND.
    assert_refused(&cancel(&dave, &erin_id).await, "FORBIDDEN", "an EDITOR");
    assert_refused(&cancel(&mallory, &erin_id).await, "NOT_FOUND", "a stranger");
    assert_eq!(pending_emails(&app, &alice, &list).await.len(), 1);

    // Accepted: no longer pending, so nothing to cancel.
    let dave_invitation = app
        .invite_ok(
            &alice,
            &app.create_list_id(&alice, "Later").await,
            &dave.email,
            "VIEWER",
        )
        .await;
    let dave_id = dave_invitation["id"].as_str().unwrap();
    assert_ok(&app.accept_invitation(&dave, dave_id).await, "dave accepts");
    assert_eq!(
        assert_ok(&cancel(&alice, dave_id).await, "after accept")["cancelInvitation"],
        false
    );
    assert_eq!(
        assert_ok(&cancel(&dave, dave_id).await, "after accept")["cancelInvitation"],
        false
    );
}

#[tokio::test]
async fn an_address_invited_before_it_had_an_account_sees_its_invitation() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let list = app.create_list_id(&alice, "For a newcomer").await;
    let email = unique_email("newcomer");
    let invitation = app.invite_ok(&alice, &list, &email, "VIEWER").await;

    let newcomer = register_as(&app, &email, "Newcomer").await;
    assert!(
        app.invitations_of(&newcomer).await.is_empty(),
        "not verified yet"
    );
    app.verify_email_in_db(&newcomer).await;
    let invitations = app.invitations_of(&newcomer).await;
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0]["id"], invitation["id"]);
    let body = app
        .accept_invitation(&newcomer, invitation["id"].as_str().unwrap())
        .await;
    assert_eq!(
        assert_ok(&body, "accept")["acceptInvitation"]["role"],
        "VIEWER"
    );
    let list_now = app.get_list(&alice, &list).await;
    let members: Vec<&str> = list_now["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["id"].as_str().unwrap())
        .collect();
    assert!(members.contains(&newcomer.id.as_str()), "{list_now}");
}
