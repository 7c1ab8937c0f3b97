//! The lists migration on a database of the old shape: every user gets a
//! default list (owned, with an OWNER membership) holding all its todos,
//! whose positions are valid keys in the old default order (newest
//! first); reverting it restores the old shape with the data intact; and
//! the app, migrated fully, serves old accounts their default list.

use diesel::{migration::Migration, pg::Pg as PgBackend};
use diesel_async::{AsyncConnection, async_connection_wrapper::AsyncConnectionWrapper};
use diesel_migrations::MigrationHarness;
use serde_json::json;
use todoql::db::{Conn, MIGRATIONS};
use uuid::Uuid;

use crate::support::{
    TestApp, TestUser, admin_conn, claims_for, db::database_url, fractional_index::is_valid_key,
    lists::Pg,
};

/// The migration under test.
const LISTS: &str = "2026-12-04-000001_lists";

type Harness = AsyncConnectionWrapper<Conn>;

/// Runs `f` on the synchronous migration harness on a blocking thread, as
/// `todoql::db::migrate` does.
async fn with_harness<T: Send + 'static>(
    harness: Harness,
    f: impl FnOnce(&mut Harness) -> T + Send + 'static,
) -> (Harness, T) {
    tokio::task::spawn_blocking(move || {
        let mut harness = harness;
        let out = f(&mut harness);
        (harness, out)
    })
    .await
    .expect("the migration task")
}

fn name(migration: &dyn Migration<PgBackend>) -> String {
    migration.name().to_string()
}

/// The names of the pending migrations, in order.
fn pending(harness: &mut Harness) -> Vec<String> {
    harness
        .pending_migrations(MIGRATIONS)
        .expect("pending migrations")
        .iter()
        .map(|m| name(m.as_ref()))
        .collect()
}

/// Runs the pending migrations before `stop`; panics when `stop` is not
/// among them.
fn run_until(harness: &mut Harness, stop: &str) {
    let names = pending(harness);
    assert!(
        names.iter().any(|n| n == stop),
        "no migration {stop} among {names:?}"
    );
    for migration in harness.pending_migrations(MIGRATIONS).unwrap() {
        if name(migration.as_ref()) == stop {
            return;
        }
        harness.run_migration(migration.as_ref()).unwrap();
    }
}

/// Runs the next pending migration, which must be `expected`.
fn run_next(harness: &mut Harness, expected: &str) {
    let migrations = harness.pending_migrations(MIGRATIONS).unwrap();
    let next = migrations.first().expect("a pending migration");
    assert_eq!(name(next.as_ref()), expected);
    harness.run_migration(next.as_ref()).unwrap();
}

/// An old account and its todos as (id, title, `created_at`, completed).
struct OldUser {
    id: Uuid,
    email: String,
    todos: Vec<(Uuid, String, &'static str, bool)>,
}

fn old_users() -> Vec<OldUser> {
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let user = |name: &str, todos: &[(&str, &'static str, bool)]| OldUser {
        id: Uuid::new_v4(),
        email: format!("{name}.{tag}@example.com"),
        todos: todos
            .iter()
            .map(|(title, at, done)| (Uuid::new_v4(), (*title).to_owned(), *at, *done))
            .collect(),
    };
    vec![
        user(
            "ada",
            &[
                ("oldest", "2025-01-01T10:00:00Z", true),
                ("middle", "2025-03-01T10:00:00Z", false),
                ("newest", "2025-06-01T10:00:00Z", false),
                // Two at the same instant: contract-silent, ordered as the
                // old keyset order did (created_at DESC, id DESC).
                ("twin one", "2025-02-01T10:00:00Z", false),
                ("twin two", "2025-02-01T10:00:00Z", true),
            ],
        ),
        user("bea", &[("only", "2024-12-24T18:00:00Z", false)]),
        user("cyd", &[]),
    ]
}

async fn insert_old_data(pg: &Pg, users: &[OldUser]) {
    for u in users {
        pg.exec(&format!(
            "INSERT INTO users (id, email, password_hash, display_name, created_at, updated_at)
             VALUES ('{}', '{}', 'not-a-real-hash', 'old {}', '2024-01-01Z', '2024-01-01Z')",
            u.id, u.email, u.email
        ))
        .await;
        for (id, title, at, done) in &u.todos {
            let completed_at = if *done {
                format!("'{at}'")
            } else {
                "NULL".to_owned()
            };
            pg.exec(&format!(
                "INSERT INTO todos (id, owner_id, title, completed, completed_at, created_at,
                                    updated_at, version)
                 VALUES ('{id}', '{}', '{title}', {done}, {completed_at}, '{at}', '{at}', 1)",
                u.id
            ))
            .await;
        }
    }
}

/// Every todo as text, for comparing the data before and after.
async fn todo_rows(pg: &Pg) -> Vec<Vec<Option<String>>> {
    pg.rows(
        "SELECT id, owner_id, title, description, completed, completed_at, due_at, created_at,
                updated_at, version FROM todos ORDER BY id",
    )
    .await
}

/// `u`'s todo ids in the old default order: newest first, then by id.
async fn old_order(pg: &Pg, u: &OldUser) -> Vec<String> {
    pg.column(&format!(
        "SELECT id FROM todos WHERE owner_id = '{}' ORDER BY created_at DESC, id DESC",
        u.id
    ))
    .await
    .into_iter()
    .map(Option::unwrap)
    .collect()
}

/// A new database without any migration.
async fn empty_database() -> String {
    use diesel_async::RunQueryDsl;
    let name = format!("migration_{}", Uuid::new_v4().simple());
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin_conn().await)
        .await
        .unwrap();
    database_url(&name)
}

async fn exists(pg: &Pg, sql: &str) -> bool {
    pg.value(sql).await.as_deref() == Some("t")
}

#[tokio::test]
async fn the_lists_migration_moves_every_todo_into_a_default_list_and_reverts() {
    let url = empty_database().await;
    let harness: Harness = AsyncConnectionWrapper::from(Conn::establish(&url).await.unwrap());
    let (harness, ()) = with_harness(harness, |h| run_until(h, LISTS)).await;

    let pg = Pg::connect(&url).await;
    let users = old_users();
    insert_old_data(&pg, &users).await;
    let before = todo_rows(&pg).await;
    let mut expected = Vec::new();
    for u in &users {
        expected.push(old_order(&pg, u).await);
    }
    assert_eq!(expected[0].len(), 5);

    // Up.
    let (harness, ()) = with_harness(harness, |h| run_next(h, LISTS)).await;
    assert_eq!(pg.count("SELECT count(*) FROM lists").await, 3);
    assert_eq!(pg.count("SELECT count(*) FROM list_invitations").await, 0);
    for (u, order) in users.iter().zip(&expected) {
        let default = pg
            .value(&format!(
                "SELECT default_list_id FROM users WHERE id = '{}'",
                u.id
            ))
            .await
            .unwrap_or_else(|| panic!("{} has no default list", u.email));
        assert_eq!(
            pg.value(&format!(
                "SELECT owner_id FROM lists WHERE id = '{default}'"
            ))
            .await
            .as_deref(),
            Some(u.id.to_string().as_str())
        );
        let memberships = pg
            .rows(&format!(
                "SELECT list_id, role, position FROM list_members WHERE user_id = '{}'",
                u.id
            ))
            .await;
        assert_eq!(memberships.len(), 1, "{memberships:?}");
        assert_eq!(memberships[0][0].as_deref(), Some(default.as_str()));
        assert_eq!(memberships[0][1].as_deref(), Some("OWNER"));
        let sidebar = memberships[0][2].clone().unwrap();
        assert!(is_valid_key(&sidebar), "membership position {sidebar:?}");

        let todos = pg
            .rows(&format!(
                "SELECT id, list_id, position FROM todos WHERE owner_id = '{}'
                 ORDER BY position COLLATE \"C\", id",
                u.id
            ))
            .await;
        let ids: Vec<String> = todos.iter().map(|r| r[0].clone().unwrap()).collect();
        assert_eq!(&ids, order, "{}: positions follow the old order", u.email);
        let positions: Vec<String> = todos.iter().map(|r| r[2].clone().unwrap()).collect();
        for (row, position) in todos.iter().zip(&positions) {
            assert_eq!(row[1].as_deref(), Some(default.as_str()), "{row:?}");
            assert!(is_valid_key(position), "{position:?}");
        }
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "distinct, increasing keys: {positions:?}"
        );
    }
    assert_eq!(
        todo_rows(&pg).await,
        before,
        "the todos' own columns are untouched"
    );

    // Down: the old shape, the same data.
    let (harness, reverted) = with_harness(harness, |h| {
        h.revert_last_migration(MIGRATIONS).map(|v| v.to_string())
    })
    .await;
    let reverted = reverted.unwrap();
    assert!(
        LISTS.replace('-', "").starts_with(&reverted),
        "reverted {reverted}"
    );
    for table in ["lists", "list_members", "list_invitations"] {
        assert!(
            exists(&pg, &format!("SELECT to_regclass('{table}') IS NULL")).await,
            "{table} is still there"
        );
    }
    for (table, column) in [
        ("todos", "list_id"),
        ("todos", "position"),
        ("users", "default_list_id"),
    ] {
        assert!(
            !exists(
                &pg,
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                     WHERE table_name = '{table}' AND column_name = '{column}')"
                )
            )
            .await,
            "{table}.{column} is still there"
        );
    }
    assert_eq!(todo_rows(&pg).await, before);
    assert_eq!(pg.count("SELECT count(*) FROM users").await, 3);
    drop(harness);

    // Up again, all the way, by the app itself; old accounts are served.
    let app = TestApp::spawn_on(url.clone(), &[]).await;
    for (u, order) in users.iter().zip(&expected) {
        let mut user = TestUser {
            id: u.id.to_string(),
            email: u.email.clone(),
            access_token: String::new(),
            refresh_token: String::new(),
        };
        user.access_token = app.state.auth.tokens().sign(&claims_for(&user)).unwrap();
        let lists = app.lists_of(&user).await;
        assert_eq!(lists.len(), 1, "{lists:?}");
        assert_eq!(lists[0]["isDefault"], true);
        assert_eq!(lists[0]["role"], "OWNER");
        let list = lists[0]["id"].as_str().unwrap();
        assert_eq!(&app.list_todo_ids(&user, list).await, order);
        let data = app
            .data_as(
                &user,
                "{ me { emailVerified todoCounts { total } }
                   todos(first: 100) { nodes { id } } }",
                json!({}),
            )
            .await;
        let old_api: Vec<String> = data["todos"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(&old_api, order, "the old API's default order");
        assert_eq!(data["me"]["todoCounts"]["total"], order.len());
        // Accounts that existed before lists count as unverified.
        assert_eq!(data["me"]["emailVerified"], false);
    }
    app.stop().await.unwrap();
}
