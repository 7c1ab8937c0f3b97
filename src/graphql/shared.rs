//! Subscriptions executed once for everyone who shares them: sockets of
//! one user subscribing with the same document, operation name and
//! variables and no resume cursor ([`super::shared_key`] says which, and
//! why that is all a result depends on) join one *run*. The run executes
//! the subscription once (`Gateway::execute_stream` with the first
//! subscriber's request), serialises each response once to its `payload`
//! JSON and hands it to every member through a broadcast channel; each
//! socket only wraps it in its own message (`http::ws`).
//!
//! What each member sees is what a private subscription would have shown:
//! - **Start.** A member that joins while the run is still starting gets
//!   everything after the run's start (read after its subscribe arrived,
//!   as a private one would). A member that joins a live run listens first,
//!   then reads the feed's newest position itself ([`Ready::Start`]), and
//!   skips results of events up to it: nothing committed before it
//!   subscribed, nothing after it missed.
//! - **A run that never starts** (a request error, a failing resolver)
//!   leaves the registry at once; the subscribers that joined it meanwhile
//!   run privately instead ([`Ready::Private`]), except the first, whose
//!   request it was: it gets the run's answer.
//! - **Budget.** The first subscriber is charged by validation, as
//!   always; every other one is charged the same complexity on joining.
//! - **Slow members.** The broadcast holds `SUBSCRIPTION_BUFFER` batches;
//!   a member that falls further behind is told `SLOW_CONSUMER` with the
//!   cursor of the last result it was handed (`http::ws`), never a gap.
//! - **End.** The run ends when its last member leaves (the execution is
//!   aborted), or on its own, which every member sees (`complete`).
//!
//! The run's start, cost and each result's event come out of the
//! execution through [`crate::stream_tap`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_graphql::{Response, ServerError};
use futures_util::{FutureExt, StreamExt};
use tokio::{
    sync::{broadcast, watch},
    task::AbortHandle,
};
use uuid::Uuid;

use super::{AppSchema, admission::Admitted, admission::Gateway, shared_key::RunKey};
use crate::{
    error::ErrorCode,
    events::EventService,
    stream_tap::{self, ItemInfo, Phase, Tap},
};

/// What a run hands its members.
#[derive(Debug, Clone)]
pub enum Item {
    /// Responses, serialised, as many as were ready together (the events
    /// of one transaction, mostly): members fall behind by batches, as a
    /// private subscription falls behind the feed by transactions.
    Results(Arc<[Output]>),
    /// The first response was a request error: nothing ran.
    RequestError(Arc<[ServerError]>),
    /// The run ended.
    End,
}

/// One response of a run.
#[derive(Debug)]
pub struct Output {
    /// The event behind it (`None` for an error).
    pub event: Option<ItemInfo>,
    /// The `payload` JSON: `{"data":…}` (and `errors`).
    pub payload: Box<str>,
}

/// The most responses one batch carries.
const BATCH: usize = 256;

/// The runs of one app.
#[derive(Clone)]
pub struct SharedRuns {
    inner: Arc<Registry>,
}

struct Registry {
    runs: Mutex<HashMap<RunKey, Arc<Run>>>,
    capacity: usize,
}

struct Run {
    key: RunKey,
    tx: broadcast::Sender<Item>,
    tap: Arc<Tap>,
    phase: watch::Receiver<Phase>,
    /// Members; changed only under the registry's lock.
    members: Mutex<usize>,
    upstream: Mutex<Option<AbortHandle>>,
}

/// A member's place in a run; leaving (drop) ends the run when it was the
/// last.
pub struct Member {
    registry: Arc<Registry>,
    run: Arc<Run>,
    /// The run's results, from when this member joined.
    pub results: broadcast::Receiver<Item>,
    role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Its request runs.
    First,
    /// Joined before the run started.
    Early,
    /// Joined a live run.
    Late,
}

/// How a member goes on once its run has started (or failed).
#[derive(Debug)]
pub enum Ready {
    /// Deliver the results of events after this position (`None`: every
    /// result; the first member of a run that failed).
    Start(Option<i64>),
    /// The budget is spent: answer this error, as validation would have.
    Refused(ServerError),
    /// Run privately with the member's own request.
    Private,
}

impl SharedRuns {
    /// No runs yet; each run buffers `capacity` results per member.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Registry {
                runs: Mutex::new(HashMap::new()),
                capacity: capacity.max(1),
            }),
        }
    }

    /// How many runs are executing (for tests and diagnostics).
    pub fn running(&self) -> usize {
        self.inner.lock().len()
    }

    /// Joins the run of `key`, or starts it with `admitted`. Returns the
    /// request back when it did not start a run: the member may still
    /// need to run privately ([`Ready::Private`]).
    pub fn join(
        &self,
        key: RunKey,
        gateway: &Gateway,
        admitted: Admitted,
    ) -> (Member, Option<Admitted>) {
        let mut runs = self.inner.lock();
        if let Some(run) = runs.get(&key) {
            *run.members.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            let role = match *run.phase.borrow() {
                Phase::Starting => Role::Early,
                _ => Role::Late,
            };
            let member = Member {
                registry: self.inner.clone(),
                results: run.tx.subscribe(),
                run: run.clone(),
                role,
            };
            return (member, Some(admitted));
        }
        let (tap, phase) = Tap::new();
        let (tx, results) = broadcast::channel(self.inner.capacity);
        let run = Arc::new(Run {
            key: key.clone(),
            tx: tx.clone(),
            tap: tap.clone(),
            phase,
            members: Mutex::new(1),
            upstream: Mutex::new(None),
        });
        let stream = gateway.execute_stream(admitted);
        let handle = tokio::spawn(upstream(self.inner.clone(), run.clone(), stream, tx, tap));
        *run.upstream.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle.abort_handle());
        runs.insert(key, run.clone());
        let member = Member {
            registry: self.inner.clone(),
            run,
            results,
            role: Role::First,
        };
        (member, None)
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RunKey, Arc<Run>>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `run` out of the registry (if it is still there): nobody
    /// joins it any more.
    fn remove(&self, run: &Arc<Run>) {
        let mut runs = self.lock();
        if runs.get(&run.key).is_some_and(|r| Arc::ptr_eq(r, run)) {
            runs.remove(&run.key);
        }
    }
}

/// Executes the run's subscription, serialising each response once.
async fn upstream(
    registry: Arc<Registry>,
    run: Arc<Run>,
    mut stream: impl futures_util::Stream<Item = Response> + Unpin,
    tx: broadcast::Sender<Item>,
    tap: Arc<Tap>,
) {
    // However the run ends (its stream ends, it panics, or it is aborted
    // because every member left), members are told and nobody joins it.
    let _ending = Ending {
        registry: registry.clone(),
        run: run.clone(),
        tx: tx.clone(),
        tap: tap.clone(),
    };
    let mut first = true;
    while let Some(response) = stream_tap::scope(tap.clone(), stream.next()).await {
        if *run.phase.borrow() == Phase::Starting {
            // An answer before the feed started: this run serves only the
            // members it has (see the module's documentation).
            tap.fail();
            registry.remove(&run);
        }
        if first && is_request_error(&response) {
            let _ = tx.send(Item::RequestError(response.errors.into()));
            break;
        }
        first = false;
        let mut batch = vec![output(&response, &tap)];
        // What else is ready now goes in the same batch.
        let mut ended = false;
        while batch.len() < BATCH {
            match stream_tap::scope(tap.clone(), stream.next()).now_or_never() {
                Some(Some(response)) => batch.push(output(&response, &tap)),
                Some(None) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        // No receiver: every member left, and the run is being aborted.
        let _ = tx.send(Item::Results(batch.into()));
        if ended {
            break;
        }
    }
}

/// Ends a run when dropped.
struct Ending {
    registry: Arc<Registry>,
    run: Arc<Run>,
    tx: broadcast::Sender<Item>,
    tap: Arc<Tap>,
}

impl Drop for Ending {
    fn drop(&mut self) {
        self.tap.fail();
        self.registry.remove(&self.run);
        let _ = self.tx.send(Item::End);
    }
}

/// A response, serialised once, with its event.
fn output(response: &Response, tap: &Tap) -> Output {
    let payload = serde_json::to_string(response).unwrap_or_else(|e| {
        crate::error::log_internal(&e);
        r#"{"data":null,"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_owned()
    });
    Output {
        event: tap.take_item(),
        payload: payload.into(),
    }
}

impl Member {
    /// Waits for the run to start (or fail) and says how to go on, charging
    /// the budget of `user` (`schema`) and reading the feed's position
    /// (`events`) as this member's role requires.
    pub async fn ready(&self, schema: &AppSchema, events: &EventService, user: Uuid) -> Ready {
        let mut phase = self.run.phase.clone();
        let phase = match phase.wait_for(|p| *p != Phase::Starting).await {
            Ok(phase) => *phase,
            Err(_) => Phase::Failed,
        };
        let start = match (phase, self.role) {
            (Phase::Live(start), Role::First) => return Ready::Start(Some(start)),
            (Phase::Failed | Phase::Starting, Role::First) => return Ready::Start(None),
            (Phase::Failed | Phase::Starting, Role::Early | Role::Late) => return Ready::Private,
            (Phase::Live(start), _) => start,
        };
        if let Some(cost) = self.run.tap.cost()
            && let Err(error) = super::charge_budget(schema, user, cost).await
        {
            return Ready::Refused(error);
        }
        if self.role == Role::Early {
            return Ready::Start(Some(start));
        }
        // Listening already (joined), so nothing after this is missed.
        match events.position(user).await {
            Ok(position) => Ready::Start(Some(position.max(start))),
            Err(e) => {
                tracing::warn!(error = %e, "reading the feed position; running privately");
                Ready::Private
            }
        }
    }

    /// Whether this member's request started the run.
    pub fn is_first(&self) -> bool {
        self.role == Role::First
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let upstream = {
            let mut runs = self.registry.lock();
            let mut members = self.run.members.lock().unwrap_or_else(|p| p.into_inner());
            *members = members.saturating_sub(1);
            if *members > 0 {
                return;
            }
            if runs
                .get(&self.run.key)
                .is_some_and(|r| Arc::ptr_eq(r, &self.run))
            {
                runs.remove(&self.run.key);
            }
            let mut upstream = self.run.upstream.lock().unwrap_or_else(|p| p.into_inner());
            upstream.take()
        };
        // The last member left: stop executing (outside the registry's
        // lock, which the run's own end takes).
        if let Some(upstream) = upstream {
            upstream.abort();
        }
    }
}

/// A response from before execution: parse, validation or operation
/// selection failed (no data, and only such codes).
pub fn is_request_error(response: &Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| {
            match e.extensions.as_ref().and_then(|ext| ext.get("code")) {
                None => true,
                Some(async_graphql::Value::String(code)) => {
                    code == ErrorCode::GraphqlParseFailed.as_str()
                        || code == ErrorCode::GraphqlValidationFailed.as_str()
                }
                Some(_) => false,
            }
        })
}
