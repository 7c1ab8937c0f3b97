//! Listing: filters by state, search and due dates, the bound on search,
//! and owners loaded in one query per page.

use serde_json::{Value, json};

use super::{sorted, titles};
use crate::support::{TestApp, error_code};

#[tokio::test]
async fn filters_by_state_search_and_due_dates() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let make = async |title: &str, description: Option<&str>, due: Option<&str>| {
        app.create_todo(
            &alice,
            json!({ "title": title, "description": description, "dueAt": due }),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let milk = make("Buy MILK", None, Some("2030-01-01T00:00:00Z")).await;
    make(
        "Walk dog",
        Some("and buy milk too"),
        Some("2030-01-02T00:00:00Z"),
    )
    .await;
    make("100% done", None, None).await;
    make("snake_case", Some(""), Some("2030-01-03T00:00:00Z")).await;
    make("plain 1000 done", Some("snakeXcase"), None).await;
    make("Milkshake", Some("vanilla"), Some("2030-01-02T00:00:00Z")).await;
    app.update_todo_ok(&alice, &milk, json!({ "completed": true }))
        .await;

    let all = [
        "Buy MILK",
        "Walk dog",
        "100% done",
        "snake_case",
        "plain 1000 done",
        "Milkshake",
    ];
    assert_eq!(titles(&app, &alice, Value::Null).await, sorted(&all));
    assert_eq!(titles(&app, &alice, json!({})).await, sorted(&all));

    // State.
    assert_eq!(
        titles(&app, &alice, json!({ "completed": true })).await,
        sorted(&["Buy MILK"])
    );
    assert_eq!(
        titles(&app, &alice, json!({ "completed": false })).await,
        sorted(&all[1..])
    );

    // Search: case-insensitive, in the title or the description.
    let with_milk = sorted(&["Buy MILK", "Walk dog", "Milkshake"]);
    for needle in ["milk", "MILK", "mIlK", "  milk  "] {
        assert_eq!(
            titles(&app, &alice, json!({ "search": needle })).await,
            with_milk,
            "search {needle:?}"
        );
    }
    assert_eq!(
        titles(&app, &alice, json!({ "search": "VANILLA" })).await,
        sorted(&["Milkshake"])
    );
    assert!(
        titles(&app, &alice, json!({ "search": "absent" }))
            .await
            .is_empty()
    );
    // A blank search is no search.
    assert_eq!(
        titles(&app, &alice, json!({ "search": "   " })).await,
        sorted(&all)
    );

    // LIKE wildcards match themselves only.
    for (needle, expected) in [
        ("%", vec!["100% done"]),
        ("_", vec!["snake_case"]),
        ("100%", vec!["100% done"]),
        ("e_c", vec!["snake_case"]),
        ("0%", vec!["100% done"]),
        ("%d%", vec![]),
        ("\\", vec![]),
    ] {
        assert_eq!(
            titles(&app, &alice, json!({ "search": needle })).await,
            sorted(&expected),
            "search {needle:?}"
        );
    }

    // Due dates: strict bounds, todos without one never match.
    assert_eq!(
        titles(&app, &alice, json!({ "dueBefore": "2030-01-02T00:00:00Z" })).await,
        sorted(&["Buy MILK"])
    );
    assert_eq!(
        titles(&app, &alice, json!({ "dueAfter": "2030-01-02T00:00:00Z" })).await,
        sorted(&["snake_case"])
    );
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "dueAfter": "2030-01-01T00:00:00Z", "dueBefore": "2030-01-03T00:00:00Z" })
        )
        .await,
        sorted(&["Walk dog", "Milkshake"])
    );
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "dueAfter": "2030-01-01T23:59:59.999999Z" })
        )
        .await,
        sorted(&["Walk dog", "Milkshake", "snake_case"])
    );
    assert_eq!(
        titles(&app, &alice, json!({ "dueBefore": "2100-01-01T00:00:00Z" })).await,
        sorted(&["Buy MILK", "Walk dog", "snake_case", "Milkshake"])
    );
    // Offsets are honoured: 01:00+01:00 is midnight UTC.
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "dueBefore": "2030-01-02T01:00:00+01:00" })
        )
        .await,
        sorted(&["Buy MILK"])
    );

    // Combinations.
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "completed": false, "search": "milk" })
        )
        .await,
        sorted(&["Walk dog", "Milkshake"])
    );
    assert!(
        titles(
            &app,
            &alice,
            json!({ "completed": true, "dueAfter": "2030-01-01T00:00:00Z" })
        )
        .await
        .is_empty()
    );
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "completed": false, "search": "milk", "dueBefore": "2030-01-03T00:00:00Z", "dueAfter": "2030-01-01T00:00:00Z" })
        )
        .await,
        sorted(&["Walk dog", "Milkshake"])
    );
    assert_eq!(
        titles(
            &app,
            &alice,
            json!({ "search": "done", "completed": false })
        )
        .await,
        sorted(&["100% done", "plain 1000 done"])
    );

    // totalCount counts the filter across pages, not the page.
    let body = app
        .gql_as(
            &alice,
            "{ todos(first: 1, filter: { search: \"milk\" }) { totalCount nodes { id } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["todos"]["totalCount"], 3, "{body}");
    assert_eq!(body["data"]["todos"]["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"]["todos"]["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn overlong_search_is_rejected() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let body = app
        .gql_as(
            &alice,
            "query($s: String) { todos(filter: { search: $s }) { totalCount } }",
            json!({ "s": "s".repeat(201) }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "filter.search");
    let ok = app
        .gql_as(
            &alice,
            "query($s: String) { todos(filter: { search: $s }) { totalCount } }",
            json!({ "s": "s".repeat(200) }),
        )
        .await;
    assert_eq!(ok["data"]["todos"]["totalCount"], 0, "{ok}");
}

#[tokio::test]
async fn a_page_of_owners_costs_one_users_query() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    for i in 0..20 {
        app.create_todo(&alice, json!({ "title": format!("todo {i}") }))
            .await;
    }

    let stats = app.state.db.stats();
    stats.reset();
    assert_eq!(stats.count_matching("FROM \"users\""), 0);
    let body = app
        .gql_as(
            &alice,
            "{ todos(first: 20) { nodes { id owner { id email } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let nodes = body["data"]["todos"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 20);
    for n in nodes {
        assert_eq!(n["owner"]["id"], alice.id.as_str());
        assert_eq!(n["owner"]["email"], alice.email.as_str());
    }
    // The authentication check and all 20 owners: one users query.
    assert_eq!(stats.count_matching("FROM \"users\""), 1);
    // And the page itself is one todos query.
    assert_eq!(stats.count_matching("FROM \"todos\""), 1);

    // The cache lives for one request only: the next request asks again,
    // and once, however many connections it walks.
    stats.reset();
    let body = app
        .gql_as(
            &alice,
            "{ a: todos(first: 20) { nodes { owner { email } } }
               me { email todos(first: 20, orderBy: CREATED_AT_ASC) { nodes { owner { id } } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["me"]["todos"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(stats.count_matching("FROM \"users\""), 1);
}
