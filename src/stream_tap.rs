//! What a shared subscription run learns from inside its own execution, as
//! a task-local: the validated document's complexity (so each later
//! subscriber of the run is charged the same budget), the feed position
//! where the run's event stream started, and the feed position of each
//! result it yields. Set by `graphql::shared` around every poll of the run;
//! written by the schema's validation hook (`graphql`), by
//! `events::service::EventService::subscribe` (the start) and by the
//! subscription resolvers (`events::graphql`, each yielded event).
//!
//! A leaf module, like [`crate::write_claim`]: the feature and the schema
//! write to it without knowing who reads, and outside a shared run every
//! function here does nothing. Why a task-local and not request data: the
//! admitted request is built by the admission pipeline for every
//! transport, and the run's positions are known only deep inside
//! async-graphql's execution, which offers no other way out.

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not yet listening to the feed (its document may still fail).
    Starting,
    /// Listening: it delivers every event after this feed position.
    Live(i64),
    /// It ended or answered before it started listening (a request error,
    /// a failed resolver): nobody else may join it.
    Failed,
}

/// One yielded result's event: its feed position and when it committed.
pub type ItemInfo = (i64, DateTime<Utc>);

/// The run's side of the tap.
pub struct Tap {
    cost: Mutex<Option<u64>>,
    phase: watch::Sender<Phase>,
    item: Mutex<Option<ItemInfo>>,
}

impl Tap {
    /// A tap, and how to watch its run's phase.
    pub fn new() -> (Arc<Self>, watch::Receiver<Phase>) {
        let (phase, watch) = watch::channel(Phase::Starting);
        let tap = Self {
            cost: Mutex::new(None),
            phase,
            item: Mutex::new(None),
        };
        (Arc::new(tap), watch)
    }

    /// The validated document's complexity, once validated.
    pub fn cost(&self) -> Option<u64> {
        *self.cost.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The event behind the result just yielded (taken: each result has
    /// its own), `None` for a result that is no event (an error).
    pub fn take_item(&self) -> Option<ItemInfo> {
        self.item.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Marks the run failed, unless it started.
    pub fn fail(&self) {
        self.phase.send_if_modified(|phase| {
            let starting = *phase == Phase::Starting;
            if starting {
                *phase = Phase::Failed;
            }
            starting
        });
    }
}

tokio::task_local! {
    static TAP: Arc<Tap>;
}

/// Runs `future` (one poll step of a shared run) with `tap` current.
pub async fn scope<F: Future>(tap: Arc<Tap>, future: F) -> F::Output {
    TAP.scope(tap, future).await
}

/// Whether the code running is part of a shared run.
pub fn is_set() -> bool {
    TAP.try_with(|_| ()).is_ok()
}

/// The validation hook: the document costs `cost` points.
pub fn record_cost(cost: u64) {
    let _ = TAP.try_with(|tap| *tap.cost.lock().unwrap_or_else(|p| p.into_inner()) = Some(cost));
}

/// The event stream starts after feed position `seq`.
pub fn record_start(seq: i64) {
    let _ = TAP.try_with(|tap| {
        tap.phase.send_if_modified(|phase| {
            let starting = *phase == Phase::Starting;
            if starting {
                *phase = Phase::Live(seq);
            }
            starting
        })
    });
}

/// The resolver yields a result for this event (`None`: for no event).
pub fn record_item(item: Option<ItemInfo>) {
    let _ = TAP.try_with(|tap| *tap.item.lock().unwrap_or_else(|p| p.into_inner()) = item);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_only_inside_a_run() {
        record_cost(3);
        record_start(7);
        assert!(!is_set());
        let (tap, phase) = Tap::new();
        let now = Utc::now();
        scope(tap.clone(), async {
            assert!(is_set());
            record_cost(3);
            record_start(7);
            record_start(9);
            record_item(Some((8, now)));
        })
        .await;
        assert_eq!(tap.cost(), Some(3));
        assert_eq!(*phase.borrow(), Phase::Live(7), "the first start counts");
        tap.fail();
        assert_eq!(*phase.borrow(), Phase::Live(7), "a started run never fails");
        assert_eq!(tap.take_item(), Some((8, now)));
        assert_eq!(tap.take_item(), None);
        let (other, phase) = Tap::new();
        other.fail();
        assert_eq!(*phase.borrow(), Phase::Failed);
    }
}
