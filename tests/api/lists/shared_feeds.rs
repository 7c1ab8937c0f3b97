//! A member's sockets that share one run of `changes`
//! (`graphql::shared`): removed from a list, every one of them gets
//! `ACCESS_REVOKED` and nothing later of that list, as private ones do;
//! the other members' sockets go on.

use serde_json::json;

use super::{CHANGES, Feed, fence_all, list_event, summary, todo_event};

#[tokio::test]
async fn a_removed_members_shared_sockets_all_stop_getting_the_list() {
    let app = crate::support::TestApp::spawn().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let list = app.create_list_id(&alice, "Shared").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    let mut bobs = Feed::open_all(&app, &bob, &vec![(CHANGES, json!({})); 3]).await;
    let mut alices = Feed::open_all(&app, &alice, &vec![(CHANGES, json!({})); 2]).await;
    assert_eq!(app.state.shared.running(), 2, "one run per member");

    let before = app.create_todo_in(&alice, &list, "before").await;
    for feed in bobs.iter_mut().chain(alices.iter_mut()) {
        let seen = feed.next().await;
        assert_eq!(summary(&[seen]), [todo_event("CREATED", &before)]);
    }

    let body = app.remove_member(&alice, &list, &bob.id).await;
    assert_eq!(body["data"]["removeMember"], true, "{body}");
    let after = app.create_todo_in(&alice, &list, "after").await;
    app.update_list(&alice, &list, json!({ "name": "Sealed" }))
        .await;

    let got = fence_all(&app, &bob, &mut bobs.iter_mut().collect::<Vec<_>>()).await;
    for events in &got {
        assert_eq!(summary(events), [list_event("ACCESS_REVOKED", &list)]);
    }
    let got = fence_all(&app, &alice, &mut alices.iter_mut().collect::<Vec<_>>()).await;
    for events in &got {
        assert_eq!(
            summary(events),
            [
                list_event("UPDATED", &list),
                todo_event("CREATED", &after),
                list_event("UPDATED", &list),
            ]
        );
    }
}
