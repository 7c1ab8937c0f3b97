//! Background jobs: a durable queue in PostgreSQL and a worker pool.
//!
//! Other features enqueue through [`queue`] on their own transaction, so a
//! job exists if and only if the change that caused it committed. Workers
//! ([`worker`]) claim due jobs with `FOR UPDATE SKIP LOCKED` under a lease,
//! woken by `LISTEN`/`NOTIFY` with polling as a fallback; failures retry
//! with exponential backoff and jitter until `JOB_MAX_ATTEMPTS`, then the
//! job is `dead` and kept for operators (`todoql jobs list/retry`). A job
//! whose worker died is taken again when its lease expires, so handlers
//! must be idempotent enough to run twice. [`email`] sends mail over SMTP.

pub mod email;
pub mod handlers;
pub mod model;
pub mod queue;
pub mod worker;
