//! The `todoql` command: `serve` (default), `migrate`, `schema`, `healthcheck`.

use std::{process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};
use todoql::{
    app::{App, shutdown_signal},
    config::Config,
    devdb::LocalPostgres,
    telemetry::Telemetry,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A GraphQL backend for todo apps. Configuration comes from the
/// environment (see the README).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Database(DatabaseCommand),
    /// Print the GraphQL schema (SDL).
    #[command(display_order = 3)]
    Schema,
    /// Exit 0 when the server on HOST:PORT answers /healthz (for container
    /// health checks).
    #[command(display_order = 4)]
    Healthcheck,
}

/// The commands that work on the database: `DATABASE_URL`, or a local
/// PostgreSQL started for them and stopped afterwards.
#[derive(Subcommand)]
enum DatabaseCommand {
    /// Migrate and serve GraphQL on HOST:PORT (the default), with the job
    /// workers unless `JOBS_IN_PROCESS=false`. Without
    /// `DATABASE_URL`, starts a local PostgreSQL under `DATA_DIR`.
    #[command(display_order = 1)]
    Serve,
    /// Apply pending migrations and exit.
    #[command(display_order = 2)]
    Migrate,
    /// Run only the job workers (for deployments that scale them apart).
    #[command(display_order = 5)]
    Worker,
    /// Inspect and retry background jobs.
    #[command(display_order = 6)]
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state: queued, running, failed, succeeded, dead.
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put a dead (or failed) job back in the queue with fresh attempts.
    Retry {
        /// The job's id.
        id: Option<uuid::Uuid>,
        /// Every dead job instead.
        #[arg(long, conflicts_with = "id")]
        all_dead: bool,
    },
}

fn main() -> ExitCode {
    let command = Cli::parse()
        .command
        .unwrap_or(Command::Database(DatabaseCommand::Serve));
    let result = match command {
        // Neither the runtime nor the configuration: works with any environment.
        Command::Schema => {
            print!("{}", todoql::graphql::sdl());
            Ok(())
        }
        // No telemetry: a probe runs every few seconds and has nothing to report.
        Command::Healthcheck => block_on(async { healthcheck(&Config::from_env()?).await }),
        Command::Database(command) => block_on(run(command)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `task` to completion on a new multi-threaded runtime.
fn block_on(task: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()
        .context("starting the runtime")?
        .block_on(task)
}

async fn run(command: DatabaseCommand) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let telemetry = todoql::telemetry::init(&config.telemetry, config.is_production())?;
    if config.auth.jwt_secret_generated {
        tracing::warn!(
            "JWT_SECRET is not set: generated one for this process; \
             tokens will not survive a restart"
        );
    }
    let result = on_database(command, config, &telemetry).await;
    // Export what is buffered; blocking, so off the runtime's workers.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    result
}

/// Runs `command` on `DATABASE_URL`, or on a local PostgreSQL started for
/// it and stopped afterwards, whatever the outcome. The app (or workers)
/// record into `telemetry`.
async fn on_database(
    command: DatabaseCommand,
    config: Config,
    telemetry: &Telemetry,
) -> anyhow::Result<()> {
    let (url, local) = database(&config).await?;
    let result = match command {
        DatabaseCommand::Serve => serve(config, &url, telemetry).await,
        DatabaseCommand::Migrate => todoql::db::migrate(&url).await.map(|applied| {
            println!("applied {} migration(s)", applied.len());
        }),
        DatabaseCommand::Worker => todoql::app::run_workers(config, &url, telemetry).await,
        DatabaseCommand::Jobs { command } => jobs(command, &url).await,
    };
    if let Some(local) = local {
        local.stop().await;
    }
    result
}

/// `todoql jobs …`: operator commands on the queue.
async fn jobs(command: JobsCommand, url: &str) -> anyhow::Result<()> {
    use diesel_async::AsyncConnection;
    use todoql::jobs::model;
    todoql::db::migrate(url).await?;
    let mut conn = todoql::db::Conn::establish(url).await?;
    match command {
        JobsCommand::List { state, limit } => {
            let rows = model::list(&mut conn, state.as_deref(), limit).await?;
            println!(
                "{:<36}  {:<20}  {:<9}  {:>8}  {:<25}  last error",
                "id", "kind", "state", "attempts", "run at"
            );
            for job in rows {
                println!(
                    "{:<36}  {:<20}  {:<9}  {:>8}  {:<25}  {}",
                    job.id,
                    job.kind,
                    job.state,
                    job.attempts,
                    job.run_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    job.last_error.unwrap_or_default().replace('\n', " "),
                );
            }
            Ok(())
        }
        JobsCommand::Retry { id: Some(id), .. } => {
            anyhow::ensure!(
                model::retry(&mut conn, id).await?,
                "no dead or failed job with id {id}"
            );
            println!("job {id} queued again");
            Ok(())
        }
        JobsCommand::Retry { all_dead: true, .. } => {
            let n = model::retry_all_dead(&mut conn).await?;
            println!("{n} dead job(s) queued again");
            Ok(())
        }
        JobsCommand::Retry { .. } => anyhow::bail!("give a job id or --all-dead"),
    }
}

async fn serve(config: Config, url: &str, telemetry: &Telemetry) -> anyhow::Result<()> {
    let app = App::build(config, url, telemetry).await?;
    let state = app.state();
    let host = state.config.host;
    tracing::info!(
        url = %format!("http://{host}:{}/graphql", app.port()),
        graphiql = state.config.graphiql,
        "todoql listening"
    );
    app.run_until_stopped(shutdown_signal()).await
}

/// `DATABASE_URL`, or a local PostgreSQL started for this run.
async fn database(config: &Config) -> anyhow::Result<(String, Option<LocalPostgres>)> {
    match &config.database.url {
        Some(url) => Ok((url.expose().to_owned(), None)),
        None => {
            let local = LocalPostgres::start(&config.database).await?;
            Ok((local.url.clone(), Some(local)))
        }
    }
}

/// GET /healthz on the configured address, without an HTTP client crate.
async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    let host = if config.host.is_unspecified() {
        "127.0.0.1".parse()?
    } else {
        config.host
    };
    let check = async {
        let mut stream = tokio::net::TcpStream::connect((host, config.port)).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        anyhow::Ok(head.starts_with(b"HTTP/1.1 200"))
    };
    let healthy = tokio::time::timeout(Duration::from_secs(3), check)
        .await
        .context("health check timed out")??;
    anyhow::ensure!(healthy, "/healthz did not answer 200");
    Ok(())
}
