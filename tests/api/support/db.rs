//! The test databases: a template migrated once per cluster (named after
//! the migrations, so a change of them builds a new one), and a fresh clone
//! of it for every app a test spawns.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    time::Duration,
};

use diesel::migration::MigrationSource;
use diesel_async::{AsyncConnection, RunQueryDsl};
use todoql::db::{Conn, MIGRATIONS};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// The admin URL of the throwaway cluster `scripts/test.sh` starts.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the suite with ./scripts/test.sh, \
         which starts throwaway PostgreSQL and Redis",
    )
}

/// `postgres://…/name` on the test cluster.
pub fn database_url(name: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// A template name that changes whenever the migrations do.
fn template_name() -> String {
    let mut hasher = DefaultHasher::new();
    let migrations =
        MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).expect("embedded migrations");
    for m in &migrations {
        m.name().to_string().hash(&mut hasher);
    }
    format!("todoql_tpl_{:x}", hasher.finish())
}

/// A connection to the test cluster's admin database.
pub async fn admin_conn() -> Conn {
    Conn::establish(&admin_url())
        .await
        .expect("connect to the test cluster")
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Creates and migrates the template once for the whole cluster: test
/// processes race for an advisory lock, the first one builds it.
async fn template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            let mut conn = admin_conn().await;
            diesel::sql_query("SELECT pg_advisory_lock(7041)")
                .execute(&mut conn)
                .await
                .unwrap();
            if !database_exists(&mut conn, &name).await {
                let building = format!("{name}_build");
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{building}\""))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                diesel::sql_query(format!("CREATE DATABASE \"{building}\""))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                todoql::db::migrate(&database_url(&building))
                    .await
                    .expect("migrate the template");
                // Renaming makes the template appear only once complete.
                rename_when_idle(&mut conn, &building, &name).await;
            }
            diesel::sql_query("SELECT pg_advisory_unlock(7041)")
                .execute(&mut conn)
                .await
                .unwrap();
            name
        })
        .await
}

async fn database_exists(conn: &mut Conn, name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let row: Row =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(conn)
            .await
            .unwrap();
    row.exists
}

/// Retries while the migration connection is still closing.
async fn rename_when_idle(conn: &mut Conn, from: &str, to: &str) {
    for _ in 0..100 {
        let result = diesel::sql_query(format!("ALTER DATABASE \"{from}\" RENAME TO \"{to}\""))
            .execute(conn)
            .await;
        if result.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not rename the template database");
}

/// A fresh database cloned from the migrated template.
pub async fn fresh_database() -> String {
    let template = template().await;
    let name = format!("test_{}", Uuid::new_v4().simple());
    let mut conn = admin_conn().await;
    diesel::sql_query(format!(
        "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
    ))
    .execute(&mut conn)
    .await
    .expect("clone the template");
    database_url(&name)
}

/// Reverts the migrations of the database at `url`, newest first, down to
/// and including `name` (a migration test's "down"): every later migration
/// depends on it, so they go first.
pub async fn revert_through(url: &str, name: &str) {
    let name = name.to_owned();
    let mut wrapper = migration_connection(url).await;
    tokio::task::spawn_blocking(move || {
        use diesel_migrations::MigrationHarness;
        let ours = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
            .unwrap()
            .into_iter()
            .find(|m| m.name().to_string() == name)
            .expect("the migration is embedded")
            .name()
            .version()
            .as_owned();
        loop {
            let reverted = wrapper.revert_last_migration(MIGRATIONS).unwrap();
            if reverted == ours {
                break;
            }
        }
    })
    .await
    .unwrap();
}

/// Runs every pending migration of the database at `url` (a migration
/// test's "up again").
pub async fn migrate_up(url: &str) {
    let mut wrapper = migration_connection(url).await;
    tokio::task::spawn_blocking(move || {
        use diesel_migrations::MigrationHarness;
        wrapper.run_pending_migrations(MIGRATIONS).map(drop)
    })
    .await
    .unwrap()
    .unwrap();
}

/// A blocking connection for diesel's migration harness.
async fn migration_connection(
    url: &str,
) -> diesel_async::async_connection_wrapper::AsyncConnectionWrapper<Conn> {
    diesel_async::async_connection_wrapper::AsyncConnectionWrapper::from(
        Conn::establish(url).await.unwrap(),
    )
}
