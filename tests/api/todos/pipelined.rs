//! Pipelined statements (`db::pipeline`): what each operation costs in
//! round trips to PostgreSQL, counted by a proxy in front of it; a
//! statement failing in the middle of a pipelined transaction rolls all
//! of it back and leaves the connection usable; concurrent creations are
//! all numbered, without gaps.

use diesel_async::AsyncConnection;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

use crate::support::{
    CREATE_TODO, GRJ, TestApp, TestUser, error_code, fresh_database, lists::Pg, pg_proxy::PgProxy,
    send,
};

const LIST: &str =
    "{ todos(first: 20) { totalCount nodes { id title completed owner { email } } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateTodoInput!) { updateTodo(id: $id, input: $input) { id title version } }";

async fn update(app: &TestApp, user: &TestUser, id: &str, input: Value) -> Value {
    app.gql_as(user, UPDATE, json!({ "id": id, "input": input }))
        .await
}

/// `createTodo` titled `title` under `Idempotency-Key: key`.
async fn create_keyed(app: &TestApp, user: &TestUser, key: &str, title: &str) {
    let body = json!({ "query": CREATE_TODO, "variables": { "input": { "title": title } } });
    let answer = send(
        app.graphql_request(Some(&user.access_token), &body)
            .header(ACCEPT, GRJ)
            .header("Idempotency-Key", key),
    )
    .await;
    assert!(answer.body["errors"].is_null(), "{}", answer.text);
}

/// One connection (every statement prepared on it by the warm-up), no
/// read cache: every read goes to PostgreSQL through the proxy. No job
/// workers: their polls would go through the proxy too, between any two
/// counts.
async fn spawn_counted() -> (TestApp, PgProxy) {
    let proxy = PgProxy::start(&fresh_database().await).await;
    let app = TestApp::spawn_on(
        proxy.url.clone(),
        &[
            ("CACHE", "false"),
            ("DATABASE_POOL_SIZE", "1"),
            ("JOBS_IN_PROCESS", "false"),
        ],
    )
    .await;
    (app, proxy)
}

#[tokio::test]
async fn each_operation_costs_the_round_trips_its_pipelines_make() {
    let (app, proxy) = spawn_counted().await;
    let alice = app.register("alice").await;
    let id = app.create_todo_titled(&alice, "first").await;
    for n in 0..2 {
        // Warm-up: every statement prepared once.
        app.data_as(&alice, LIST, json!({})).await;
        app.create_todo_titled(&alice, "warm").await;
        update(&app, &alice, &id, json!({ "title": format!("warm {n}") })).await;
        create_keyed(&app, &alice, &format!("warm-{n}"), "warm").await;
    }

    let before = proxy.writes();
    let data = app.data_as(&alice, LIST, json!({})).await;
    // The viewer's row, the page and the count: one write.
    assert_eq!(proxy.writes() - before, 1, "list");
    // "first", and two "warm" todos per warm-up round.
    assert_eq!(data["todos"]["totalCount"], 5);
    assert_eq!(
        data["todos"]["nodes"][0]["owner"]["email"],
        alice.email.as_str()
    );

    let before = proxy.writes();
    app.create_todo_titled(&alice, "counted").await;
    // BEGIN, lock, members, first position; the todo and its event; COMMIT
    // and the event's number. No viewer's row: the default list is
    // remembered from the warm-up's (`auth::default_lists`).
    assert_eq!(proxy.writes() - before, 3, "createTodo");

    // Into a named list: its access check needs no viewer's row.
    let lists = app
        .data_as(&alice, "{ lists { nodes { id } } }", json!({}))
        .await;
    let inbox = lists["lists"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = proxy.writes();
    let body = app
        .gql_as(
            &alice,
            "mutation($list: ID!) { createTodo(input: { title: \"named\", listId: $list }) { id } }",
            json!({ "list": inbox }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    // BEGIN, lock, members, first position; the todo and its event;
    // COMMIT and the event's number.
    assert_eq!(proxy.writes() - before, 3, "createTodo into a named list");

    let before = proxy.writes();
    let body = update(&app, &alice, &id, json!({ "title": "counted" })).await;
    assert!(body["errors"].is_null(), "{body}");
    // BEGIN, lock, members, row lock; the update and its event; COMMIT
    // and the number (no viewer's row: see `context::writer_id`).
    assert_eq!(proxy.writes() - before, 3, "updateTodo");

    let before = proxy.writes();
    create_keyed(&app, &alice, "counted", "keyed").await;
    // The claim with the viewer's row; createTodo's three transaction
    // writes; the stored response: two more than unkeyed.
    assert_eq!(proxy.writes() - before, 5, "keyed createTodo");
}

#[tokio::test]
async fn a_statement_failing_mid_pipeline_rolls_the_whole_write_back() {
    let (app, _proxy) = spawn_counted().await;
    let alice = app.register("alice").await;
    let id = app.create_todo_titled(&alice, "kept").await;
    let pg = Pg::connect(&app.database_url).await;
    // The event insert (the second statement of the write that also
    // inserts or updates the todo) fails for a todo titled "poison".
    pg.exec(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.snapshot->>'title' = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; \
         RETURN NEW; END $$; \
         CREATE TRIGGER refuse_poison BEFORE INSERT ON todo_events \
         FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
    )
    .await;
    let events = "SELECT count(*) FROM todo_events";
    let before = pg.count(events).await;

    let body = app
        .try_create_todo(&alice, json!({ "title": "poison" }))
        .await;
    assert_eq!(error_code(&body), "INTERNAL_SERVER_ERROR", "{body}");
    assert_eq!(
        pg.count("SELECT count(*) FROM todos WHERE title = 'poison'")
            .await,
        0
    );

    let body = update(&app, &alice, &id, json!({ "title": "poison" })).await;
    assert_eq!(error_code(&body), "INTERNAL_SERVER_ERROR", "{body}");
    let row = pg
        .rows(&format!(
            "SELECT title, version::text FROM todos WHERE id = '{id}'"
        ))
        .await;
    assert_eq!(row, vec![vec![Some("kept".into()), Some("1".into())]]);

    // A typed error decided between two pipelined writes.
    let body = update(
        &app,
        &alice,
        &id,
        json!({ "title": "x", "expectedVersion": 7 }),
    )
    .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    assert_eq!(pg.count(events).await, before, "no event was written");

    // The one pooled connection is not left inside a transaction: the
    // next writes commit and are seen from outside.
    let body = update(&app, &alice, &id, json!({ "title": "changed" })).await;
    assert!(body["errors"].is_null(), "{body}");
    app.create_todo_titled(&alice, "after").await;
    assert_eq!(
        pg.count("SELECT count(*) FROM todos WHERE title IN ('changed', 'after')")
            .await,
        2
    );
    assert_eq!(pg.count(events).await, before + 2);
}

#[tokio::test]
async fn sixty_four_concurrent_creations_of_one_user_are_all_numbered_without_gaps() {
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let created = futures_util::future::join_all(
        (0..64).map(|i| app.try_create_todo(&alice, json!({ "title": format!("todo {i}") }))),
    )
    .await;
    for body in &created {
        assert!(body["errors"].is_null(), "{body}");
    }
    let pg = Pg::connect(&app.database_url).await;
    let user = &alice.id;
    let (count, low, high) = {
        let row = pg
            .rows(&format!(
                "SELECT count(*), min(seq), max(seq) FROM todo_events WHERE user_id = '{user}'"
            ))
            .await;
        let n = |i: usize| row[0][i].as_deref().unwrap().parse::<i64>().unwrap();
        (n(0), n(1), n(2))
    };
    assert_eq!(
        pg.count(&format!(
            "SELECT count(*) FROM todo_events WHERE user_id = '{user}' AND kind = 'CREATED'"
        ))
        .await,
        64
    );
    assert_eq!((low, high), (1, count), "numbered 1..{count} without gaps");
    assert_eq!(
        pg.count(&format!(
            "SELECT count(DISTINCT seq) FROM todo_events WHERE user_id = '{user}'"
        ))
        .await,
        count
    );
    assert_eq!(
        pg.count(&format!("SELECT event_seq FROM users WHERE id = '{user}'"))
            .await,
        high
    );
}

#[tokio::test]
async fn a_todos_audience_lock_is_the_lock_of_its_list() {
    let app = TestApp::spawn().await;
    let conn = todoql::db::Conn::establish(&app.database_url)
        .await
        .unwrap();
    for _ in 0..3 {
        let list = uuid::Uuid::new_v4();
        assert_eq!(
            todoql::lists::audience::sql_key(&conn, list).await.unwrap(),
            todoql::lists::model::audience_lock(list)
        );
    }
}

/// The bench's `list(id)` request: a shared list's page, its count and the
/// owners of its todos.
const SHARED: &str = "query($id: ID!) { list(id: $id) { todos(first: 20, orderBy: POSITION) { totalCount nodes { id title completed owner { email } } } } }";

#[tokio::test]
async fn the_list_of_a_shared_list_costs_one_round_trip_and_nothing_for_others() {
    let (app, proxy) = spawn_counted().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let outsider = app.register("outsider").await;
    app.verify_email_in_db(&alice).await;
    let list = app.create_list_id(&alice, "shared").await;
    app.invite_and_accept(&alice, &list, &bob, "EDITOR").await;
    app.invite_and_accept(&alice, &list, &carol, "VIEWER").await;
    app.create_todo_in(&alice, &list, "by alice").await;
    app.create_todo_in(&bob, &list, "by bob").await;
    let vars = json!({ "id": list });
    for _ in 0..2 {
        // Warm-up: every statement prepared once, by a member and not.
        app.data_as(&bob, SHARED, vars.clone()).await;
        app.data_as(&outsider, SHARED, vars.clone()).await;
    }

    let before = proxy.writes();
    let data = app.data_as(&carol, SHARED, vars.clone()).await;
    // The viewer's row, the membership, the members' users, the page and
    // its count: one write.
    assert_eq!(proxy.writes() - before, 1, "list(id) of a member");
    let todos = &data["list"]["todos"];
    assert_eq!(todos["totalCount"], 2, "{data}");
    let mut owners: Vec<&str> = todos["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["owner"]["email"].as_str().unwrap())
        .collect();
    owners.sort_unstable();
    let mut expected = vec![alice.email.as_str(), bob.email.as_str()];
    expected.sort_unstable();
    assert_eq!(owners, expected);

    // A non-member: null and no error, as for a list that does not exist,
    // in the same single write.
    let before = proxy.writes();
    let body = app.gql_as(&outsider, SHARED, vars.clone()).await;
    assert_eq!(proxy.writes() - before, 1, "list(id) of a non-member");
    assert_eq!(body, json!({ "data": { "list": null } }));
    let missing = json!({ "id": uuid::Uuid::new_v4().to_string() });
    assert_eq!(
        app.gql_as(&outsider, SHARED, missing).await,
        json!({ "data": { "list": null } })
    );

    // An owner who left the list is no member's user: loaded through the
    // request's DataLoader, one more round trip.
    let body = app.remove_member(&alice, &list, &bob.id).await;
    assert!(body["errors"].is_null(), "{body}");
    app.data_as(&carol, SHARED, vars.clone()).await;
    let before = proxy.writes();
    let data = app.data_as(&carol, SHARED, vars).await;
    assert_eq!(proxy.writes() - before, 2, "with a former member's todo");
    let nodes = data["list"]["todos"]["nodes"].as_array().unwrap();
    assert!(
        nodes
            .iter()
            .any(|n| n["owner"]["email"] == bob.email.as_str()),
        "{data}"
    );
}

#[tokio::test]
async fn what_list_id_reads_ahead_is_nothing_for_a_non_member() {
    use todoql::{
        lists::ListService,
        todos::{
            TodoService,
            domain::{PageRequest, Scope, TodoFilter, TodoOrder},
        },
    };
    let app = TestApp::spawn().await;
    let alice = app.register("alice").await;
    let outsider = app.register("outsider").await;
    let list = app.create_list_id(&alice, "private").await;
    app.create_todo_in(&alice, &list, "secret").await;
    let conn = todoql::db::Conn::establish(&app.database_url)
        .await
        .unwrap();
    let list: uuid::Uuid = list.parse().unwrap();
    let page = PageRequest::parse(None, None, TodoOrder::Position).unwrap();
    for (user, seen) in [(&alice, 1), (&outsider, 0)] {
        let member: uuid::Uuid = user.id.parse().unwrap();
        let scope = Scope::ListIfMember { list, member };
        let read = TodoService::page_on(&conn, scope, &TodoFilter::default(), &page, true)
            .await
            .unwrap();
        assert_eq!((read.rows.len(), read.total), (seen, Some(seen as i64)));
        let users = ListService::member_users_on(&conn, list, member)
            .await
            .unwrap();
        assert_eq!(users.len(), seen, "{}", user.email);
    }
}
