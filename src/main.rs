//! The `todoql` command: `serve` (default), `migrate`, `schema`, `healthcheck`.

use std::{process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};
use todoql::{
    app::{App, shutdown_signal},
    config::Config,
    devdb::LocalPostgres,
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
    /// Migrate and serve GraphQL on HOST:PORT (the default). Without
    /// `DATABASE_URL`, starts a local PostgreSQL under `DATA_DIR`.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Exit 0 when the server on HOST:PORT answers /healthz (for container
    /// health checks).
    Healthcheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", todoql::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let production = std::env::var("APP_ENV").is_ok_and(|v| v.starts_with("prod"));
    if !matches!(command, Command::Healthcheck) {
        todoql::telemetry::init(production);
    }
    let config = Config::from_env()?;
    match command {
        Command::Schema => Ok(()),
        Command::Healthcheck => healthcheck(&config).await,
        Command::Migrate => {
            let (url, local) = database(&config).await?;
            let applied = todoql::db::migrate(&url).await;
            if let Some(local) = local {
                local.stop().await;
            }
            let applied = applied?;
            println!("applied {} migration(s)", applied.len());
            Ok(())
        }
        Command::Serve => {
            let (url, local) = database(&config).await?;
            let served = serve(config, &url).await;
            if let Some(local) = local {
                local.stop().await;
            }
            served
        }
    }
}

async fn serve(config: Config, url: &str) -> anyhow::Result<()> {
    let app = App::build(config, url).await?;
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
    match &config.database_url {
        Some(url) => Ok((url.expose().to_owned(), None)),
        None => {
            let local = LocalPostgres::start(&config.data_dir).await?;
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
