//! A local PostgreSQL for development: when `serve` runs without
//! `DATABASE_URL`, it starts a cluster from the installed server binaries
//! under `DATA_DIR/postgres` (created on first use and kept between runs),
//! creates the `todoql` database, and stops the server again on exit.
//!
//! PostgreSQL refuses to run as root, so as root every server command runs
//! as the `postgres` user (which Debian's package creates) through
//! `runuser`, over a data folder that user owns.

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use anyhow::{Context, bail};
use diesel_async::{AsyncConnection, RunQueryDsl};
use tokio::process::Command;

use crate::config::DatabaseConfig;

/// What to run when the binaries are missing.
pub const INSTALL_HINT: &str = "sudo apt-get install -y postgresql";

/// A local PostgreSQL server.
pub struct LocalPostgres {
    bin: PathBuf,
    data: PathBuf,
    run_as_postgres: bool,
    started_here: bool,
    /// URL of the `todoql` database.
    pub url: String,
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `configured`
/// (`PG_BIN_DIR`), else the newest `/usr/lib/postgresql/*/bin`, else
/// `pg_config --bindir`.
pub fn find_bin_dir(configured: Option<&Path>) -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = configured {
        return has_server(dir).then(|| dir.to_owned());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let out = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    has_server(&dir).then_some(dir)
}

async fn run(cmd: &mut Command, what: &str) -> anyhow::Result<Output> {
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

async fn is_root() -> bool {
    match Command::new("id").arg("-u").output().await {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim() == "0",
        Err(_) => false,
    }
}

impl LocalPostgres {
    /// Starts (or reuses) the local server under `DATA_DIR` with the
    /// binaries of `PG_BIN_DIR` (or found in the usual places), and makes
    /// sure the `todoql` database exists.
    pub async fn start(config: &DatabaseConfig) -> anyhow::Result<Self> {
        let data_root = config.data_dir.as_path();
        let Some(bin) = find_bin_dir(config.pg_bin_dir.as_deref()) else {
            bail!(
                "DATABASE_URL is not set and no PostgreSQL server binaries were found \
                 (looked in PG_BIN_DIR, /usr/lib/postgresql/*/bin and pg_config).\n\
                 Install them with:  {INSTALL_HINT}\n\
                 or set DATABASE_URL to an existing database."
            );
        };
        std::fs::create_dir_all(data_root)
            .with_context(|| format!("creating {}", data_root.display()))?;
        let data = std::fs::canonicalize(data_root)?.join("postgres");
        let run_as_postgres = is_root().await;
        std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        let this = Self {
            bin,
            data,
            run_as_postgres,
            started_here: false,
            url: String::new(),
        };
        if run_as_postgres {
            run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&this.data),
                "chown of the data folder to the postgres user (is the postgresql package installed?)",
            )
            .await?;
            // postgres needs 0700 on its data folder.
            run(
                Command::new("chmod").arg("0700").arg(&this.data),
                "chmod of the data folder",
            )
            .await?;
        }
        this.started().await
    }

    /// A command for a server binary, as the `postgres` user when root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.run_as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    async fn started(mut self) -> anyhow::Result<Self> {
        if !self.data.join("PG_VERSION").exists() {
            tracing::info!(dir = %self.data.display(), "initialising a local PostgreSQL cluster");
            run(
                self.command("initdb").arg("-D").arg(&self.data).args([
                    "-U",
                    "todoql",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]),
                "initdb",
            )
            .await?;
        }
        let port = match self.running_port() {
            Some(port) => {
                tracing::info!(port, "reusing the running local PostgreSQL");
                port
            }
            None => {
                let port = free_port()?;
                let log = self.data.join("server.log");
                run(
                    self.command("pg_ctl")
                        .arg("-D")
                        .arg(&self.data)
                        .arg("-l")
                        .arg(&log)
                        .args(["-w", "-t", "60", "-o"])
                        .arg(format!(
                            "-c listen_addresses=127.0.0.1 -p {port} -k {}",
                            self.data.display()
                        ))
                        .arg("start"),
                    "pg_ctl start",
                )
                .await?;
                self.started_here = true;
                tracing::info!(port, "started a local PostgreSQL");
                port
            }
        };
        let admin = format!("postgres://todoql@127.0.0.1:{port}/postgres");
        create_database(&admin, "todoql").await?;
        self.url = format!("postgres://todoql@127.0.0.1:{port}/todoql");
        Ok(self)
    }

    /// The port of a server already running on this data folder.
    fn running_port(&self) -> Option<u16> {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        let mut lines = pid_file.lines();
        let pid: u32 = lines.next()?.trim().parse().ok()?;
        // Line 4 of postmaster.pid is the port.
        let port = lines.nth(2)?.trim().parse().ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(port)
    }

    /// Stops the server if this process started it.
    pub async fn stop(self) {
        if !self.started_here {
            return;
        }
        let result = run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w", "stop"]),
            "pg_ctl stop",
        )
        .await;
        match result {
            Ok(_) => tracing::info!("stopped the local PostgreSQL"),
            Err(e) => tracing::warn!(error = %e, "could not stop the local PostgreSQL"),
        }
    }
}

/// A port free right now on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Creates `name` through the admin URL unless it exists.
pub async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let mut conn = crate::db::Conn::establish(admin_url)
        .await
        .context("connecting to the local PostgreSQL")?;
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(&mut conn)
            .await?;
    if !found.exists {
        // Identifiers can't be bound; `name` is ours, not user input.
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}
