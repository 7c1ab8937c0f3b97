//! The worker pool: N workers claiming due jobs under a lease, woken by
//! `LISTEN`/`NOTIFY` as soon as a job is enqueued, polling as a fallback.
//!
//! On shutdown the workers stop claiming; running jobs get
//! `JOB_SHUTDOWN_GRACE_SECS` to finish, then are returned to the queue
//! without counting the interrupted attempt.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc, watch};
use uuid::Uuid;

use super::{
    handlers::{JobContext, handle},
    model::{self, CHANNEL, JobRow},
    queue::Job,
};
use crate::{config::JobsConfig, db::Db, telemetry::Metrics, todos::TodoService};

/// The delay before retry number `attempt` (1-based): exponential, capped,
/// with jitter so that jobs failing together do not retry together.
pub fn backoff(config: &JobsConfig, attempt: i32) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let full = config
        .backoff_base
        .saturating_mul(1u32 << exponent)
        .min(config.backoff_max);
    // Between half and all of the full delay.
    full.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

/// A pool of workers over one database.
pub struct WorkerPool {
    db: Db,
    database_url: String,
    ctx: JobContext,
    config: JobsConfig,
    name: String,
    metrics: Metrics,
}

impl WorkerPool {
    /// A pool; `database_url` is used for the `LISTEN` connection; job
    /// outcomes are counted in `metrics`.
    pub fn new(
        db: Db,
        database_url: String,
        ctx: JobContext,
        config: JobsConfig,
        metrics: Metrics,
    ) -> Self {
        let name = format!(
            "{}-{}",
            std::process::id(),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        Self {
            db,
            database_url,
            ctx,
            config,
            name,
            metrics,
        }
    }

    /// Runs until `shutdown` turns true and every worker has stopped.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(self.database_url.clone(), wake.clone()));
        let pruner = tokio::spawn(prune(self.db.clone(), self.config.retention));
        let purger = tokio::spawn(purge_trash(
            self.ctx.todos.clone(),
            self.config.trash_retention,
        ));
        tracing::info!(workers = self.config.workers, pool = %self.name, "job workers started");
        let mut workers = tokio::task::JoinSet::new();
        for i in 0..self.config.workers.max(1) {
            let worker = Worker {
                name: format!("{}/{i}", self.name),
                db: self.db.clone(),
                ctx: self.ctx.clone(),
                config: self.config.clone(),
                wake: wake.clone(),
                shutdown: shutdown.clone(),
                metrics: self.metrics.clone(),
            };
            workers.spawn(worker.run());
        }
        while workers.join_next().await.is_some() {}
        listener.abort();
        pruner.abort();
        purger.abort();
        tracing::info!(pool = %self.name, "job workers stopped");
    }
}

struct Worker {
    name: String,
    db: Db,
    ctx: JobContext,
    config: JobsConfig,
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    metrics: Metrics,
}

impl Worker {
    async fn run(mut self) {
        let lease = i64::try_from(self.config.lease.as_secs())
            .unwrap_or(60)
            .max(1);
        loop {
            if *self.shutdown.borrow() {
                return;
            }
            let claimed = async {
                let mut conn = self.db.conn().await?;
                Ok::<_, crate::db::DbError>(model::claim(&mut conn, &self.name, lease).await?)
            }
            .await;
            match claimed {
                Ok(Some(job)) => self.run_job(job).await,
                Ok(None) => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(self.config.poll) => {}
                        _ = self.shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, worker = %self.name, "claiming a job failed");
                    tokio::select! {
                        () = tokio::time::sleep(self.config.poll) => {}
                        _ = self.shutdown.changed() => {}
                    }
                }
            }
        }
    }

    #[tracing::instrument(
        name = "job",
        skip_all,
        fields(
            otel.name = %format!("job {}", row.kind),
            otel.kind = "consumer",
            job.id = %row.id,
            job.kind = %row.kind,
            job.attempt = row.attempts,
        )
    )]
    async fn run_job(&mut self, row: JobRow) {
        if let Some(traceparent) = &row.trace_context {
            crate::telemetry::link_to(&tracing::Span::current(), traceparent);
        }
        let clock = std::time::Instant::now();
        let started = Utc::now();
        let waited = (started - row.run_at).num_milliseconds().max(0);
        if row.attempts > self.config.max_attempts {
            // Its leases kept expiring: a worker dies on it, or it hangs.
            self.finish(
                &row,
                Err("no attempt finished before its lease expired".into()),
                clock.elapsed(),
            )
            .await;
            return;
        }
        let job = match Job::from_row(&row.kind, row.payload.clone()) {
            Ok(job) => job,
            Err(e) => {
                self.dead(&row, &format!("unknown job: {e}")).await;
                return;
            }
        };
        tracing::info!(waited_ms = waited, "job started");
        let ctx = self.ctx.clone();
        let timeout = self.config.timeout;
        let attempt = row.attempts;
        let mut task =
            tokio::spawn(
                async move { tokio::time::timeout(timeout, handle(&ctx, job, attempt)).await },
            );
        let grace = self.config.shutdown_grace;
        let mut shutdown = self.shutdown.clone();
        let interrupted = async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
            tokio::time::sleep(grace).await;
        };
        let outcome = tokio::select! {
            outcome = &mut task => outcome,
            () = interrupted => {
                task.abort();
                self.release(&row).await;
                return;
            }
        };
        let result = match outcome {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(format!("{e:#}")),
            Ok(Err(_)) => Err(format!("timed out after {timeout:?}")),
            Err(e) => Err(format!("the handler panicked: {e}")),
        };
        self.finish(&row, result, clock.elapsed()).await;
    }

    async fn finish(&self, row: &JobRow, result: Result<(), String>, elapsed: Duration) {
        let dead = result.is_err() && row.attempts >= self.config.max_attempts;
        let outcome = match (&result, dead) {
            (Ok(()), _) => "succeeded",
            (Err(_), true) => "dead",
            (Err(_), false) => "retried",
        };
        self.metrics.job_finished(&row.kind, outcome, elapsed);
        let outcome = async {
            let mut conn = self.db.conn().await?;
            let held = match &result {
                Ok(()) => model::succeed(&mut conn, row.id, &self.name).await?,
                Err(error) if row.attempts >= self.config.max_attempts => {
                    model::fail(&mut conn, row.id, &self.name, error, None).await?
                }
                Err(error) => {
                    let delay = backoff(&self.config, row.attempts);
                    let retry_at = Utc::now()
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(1));
                    model::fail(&mut conn, row.id, &self.name, error, Some(retry_at)).await?
                }
            };
            Ok::<_, crate::db::DbError>(held)
        }
        .await;
        match (&result, outcome) {
            (_, Err(e)) => {
                tracing::error!(error = %e, "recording a job's outcome failed; its lease will expire")
            }
            (_, Ok(false)) => {
                tracing::warn!("the job's lease expired before it finished; another worker took it")
            }
            (Ok(()), Ok(true)) => tracing::info!("job succeeded"),
            (Err(error), Ok(true)) if row.attempts >= self.config.max_attempts => {
                tracing::error!(%error, "job failed for the last time: dead")
            }
            (Err(error), Ok(true)) => tracing::warn!(%error, "job failed; will retry"),
        }
    }

    async fn dead(&self, row: &JobRow, error: &str) {
        self.metrics.job_finished(&row.kind, "dead", Duration::ZERO);
        if let Ok(mut conn) = self.db.conn().await
            && let Err(e) = model::fail(&mut conn, row.id, &self.name, error, None).await
        {
            tracing::error!(error = %e, "marking a job dead failed");
        }
        tracing::error!(%error, "job is dead");
    }

    async fn release(&self, row: &JobRow) {
        let released = async {
            let mut conn = self.db.conn().await?;
            Ok::<_, crate::db::DbError>(model::release(&mut conn, row.id, &self.name).await?)
        }
        .await;
        match released {
            Ok(true) => tracing::info!("shutdown: job returned to the queue"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "returning a job failed; its lease will expire"),
        }
    }
}

/// Holds a `LISTEN` connection and wakes a worker per notification,
/// reconnecting with backoff; after each (re)connect it wakes everyone,
/// since notifications may have been missed meanwhile.
async fn listen(url: String, wake: Arc<Notify>) {
    let mut attempt: u32 = 0;
    loop {
        match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = mpsc::unbounded_channel::<()>();
                let pump = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                                if tx.send(()).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {CHANNEL}"))
                    .await
                    .is_ok()
                {
                    attempt = 0;
                    wake.notify_waiters();
                    while rx.recv().await.is_some() {
                        wake.notify_one();
                    }
                    tracing::warn!("job LISTEN connection lost; reconnecting");
                }
                pump.abort();
            }
            Err(e) => tracing::warn!(error = %e, "job LISTEN connection failed; polling meanwhile"),
        }
        let delay =
            Duration::from_millis(100 * (1u64 << attempt.min(6))).min(Duration::from_secs(5));
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// Deletes succeeded jobs past their retention, hourly.
async fn prune(db: Db, retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff =
            Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
        let pruned = async {
            let mut conn = db.conn().await?;
            Ok::<_, crate::db::DbError>(model::prune(&mut conn, cutoff).await?)
        }
        .await;
        match pruned {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "pruned finished jobs"),
            Err(e) => tracing::warn!(error = %e, "pruning jobs failed"),
        }
    }
}

/// Deletes for good the todos trashed more than `retention` ago, hourly
/// (in batches: see [`TodoService::purge_trash`]). Beside the job queue's
/// own pruning, so it runs wherever the workers run; several instances may
/// purge at once (each skips the rows another has locked).
async fn purge_trash(todos: TodoService, retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match todos.purge_trash(retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged the trash"),
            Err(e) => tracing::warn!(error = %e, "purging the trash failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> JobsConfig {
        JobsConfig {
            in_process: true,
            workers: 1,
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(10),
            retention: Duration::from_secs(3600),
            reminder_lead: Duration::from_secs(3600),
            trash_retention: Duration::from_secs(30 * 86_400),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let c = config();
        for _ in 0..100 {
            let first = backoff(&c, 1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let third = backoff(&c, 3);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
            let late = backoff(&c, 30);
            assert!(late >= Duration::from_secs(30) && late <= Duration::from_secs(60));
        }
    }
}
