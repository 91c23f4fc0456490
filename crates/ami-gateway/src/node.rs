//! One node's life in a gateway: wait for its lease, hold it (one AMI
//! session, its events published, its actions served), let it go.
//!
//! A tenure starts when this gateway creates the node's lease and ends when
//! the lease is lost (someone else wrote it), when it could not be renewed
//! in time (the [`Fence`] closed: publishing stops *before* the lease can
//! expire), or on shutdown. Only a holder opens the node's AMI session; it
//! is closed when the tenure ends. Each tenure has its own session id, and
//! its events are numbered 1, 2, 3...; its first message is an `acquired`
//! marker.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ami_config::Server;
use ami_tokio::{Client, ConnState};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{oneshot, watch};
use tokio::time::sleep_until;

use crate::gateway::{Phase, Shared};
use crate::lease::{Fence, Held, RenewError};
use crate::payload::{self, MarkerKind};
use crate::publish::{Pending, Window};
use crate::subjects::{msg_id, EventSubjects};

/// The most events taken from the AMI queue per turn of the loop.
const BATCH: usize = 256;

/// Logs with the library's fields: `server`, `action_id`, `queue_depth`.
macro_rules! log {
    ($level:ident, $server:expr, $depth:expr, $($arg:tt)+) => {
        tracing::$level!(server = %$server, action_id = "-", queue_depth = $depth, $($arg)+)
    };
}

/// Runs node `index` until the gateway closes: takes its lease whenever
/// it is free and holds it as long as it can.
pub(crate) async fn run(
    shared: Arc<Shared>,
    index: usize,
    server: Server,
    mut phase: watch::Receiver<Phase>,
) {
    let name = server.name.clone();
    let poll = shared.leases.ttl() / 8;
    let mut previous: Option<String> = None;
    while !closing(&phase) {
        let session = format!("{:016x}", crate::random::u64());
        match shared.leases.try_acquire(&name, &session).await {
            Ok(Ok((held, sent))) => {
                let holder = previous.take();
                log!(info, name, 0, session = %session, previous = ?holder, "lease acquired: holding the node");
                let tenure = Tenure {
                    shared: &shared,
                    index,
                    server: &server,
                    session,
                };
                tenure.hold(held, sent, holder, &mut phase).await;
                continue;
            }
            Ok(Err(holder)) => previous = Some(holder),
            Err(e) => log!(warn, name, 0, error = %e, "cannot read the node's lease"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = phase.changed() => {}
        }
    }
}

/// Whether the gateway is closing (or gone: its phase can no longer change).
fn closing(phase: &watch::Receiver<Phase>) -> bool {
    *phase.borrow() == Phase::Closing || phase.has_changed().is_err()
}

/// How a tenure ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Shutdown: every event read was acknowledged; the lease is released.
    Drained,
    /// The lease could not be renewed in time: publishing stopped.
    Fenced,
    /// Someone else wrote the lease.
    Lost,
}

/// One holding of one node.
struct Tenure<'a> {
    shared: &'a Arc<Shared>,
    index: usize,
    server: &'a Server,
    session: String,
}

impl Tenure<'_> {
    /// Holds the node until the lease ends or the gateway closes.
    async fn hold(
        &self,
        held: Held,
        sent: Instant,
        previous: Option<String>,
        phase: &mut watch::Receiver<Phase>,
    ) {
        let shared = self.shared;
        let name = &self.server.name;
        let metrics = shared.metrics.node(self.index);
        let fence = Arc::new(Fence::new(sent, shared.leases.ttl()));
        let (stop_renewing, renewer_stop) = oneshot::channel();
        let (lost_tx, mut lost) = watch::channel(false);
        let renewer = tokio::spawn(renew(
            shared.clone(),
            name.clone(),
            held,
            fence.clone(),
            renewer_stop,
            lost_tx,
        ));
        metrics.lease_held.store(true, Relaxed);
        metrics.leases_acquired.fetch_add(1, Relaxed);

        let mut builder = Client::builder(self.server.client.clone());
        let mut events = builder.events();
        let client = match builder.start() {
            Ok(client) => client,
            Err(e) => {
                // Validated at load time; if it happens anyway, let the node go.
                log!(error, name, 0, error = %e, "cannot start the AMI client");
                let _ = stop_renewing.send(true);
                self.finish(renewer, End::Lost).await;
                return;
            }
        };
        shared.hold(name, client.clone());
        let mut states = client.state_changes();

        let mut window = Window::new(
            &shared.js,
            &shared.metrics,
            metrics,
            &fence,
            shared.settings.max_unacked,
        );
        let mut seq = 0u64;
        let marker = self.marker(MarkerKind::Acquired, previous.as_deref(), 0);
        window.send(marker).await;

        let mut closing = false;
        let mut input_done = false;
        let mut states_done = false;
        let mut released = false;
        let mut logged_in_before = false;
        let mut dropped = 0;
        let mut batch = Vec::with_capacity(BATCH);
        let mut event_subjects = EventSubjects::default();
        let end = loop {
            if input_done && !released {
                // The marker ends the session for consumers; its ack is
                // awaited, with every event's, before the lease goes.
                released = true;
                window
                    .send(self.marker(MarkerKind::Released, None, seq))
                    .await;
            }
            if input_done && window.is_empty() {
                break End::Drained;
            }
            let now = Instant::now();
            if !fence.open(now) {
                break End::Fenced;
            }
            let take = !input_done && window.has_room();
            let retry_at = window.retry_at();
            tokio::select! {
                biased;
                _ = lost.changed() => break End::Lost,
                _ = sleep_until(fence.until().into()) => continue,
                _ = phase.changed(), if !closing => {
                    if self::closing(phase) {
                        closing = true;
                        // Log off; the event stream ends after the events
                        // already read, which are still published.
                        let client = client.clone();
                        let within = shared.settings.shutdown_timeout / 2;
                        tokio::spawn(async move { client.close_within(within).await });
                    }
                }
                state = states.next(), if !states_done => match state {
                    Some(ConnState::Ready) => {
                        metrics.session_up.store(true, Relaxed);
                        if logged_in_before {
                            let m = self.marker(MarkerKind::Reconnected, None, seq);
                            window.send(m).await;
                        }
                        logged_in_before = true;
                    }
                    Some(ConnState::Degraded { .. }) => {}
                    Some(_) => metrics.session_up.store(false, Relaxed),
                    None => states_done = true,
                },
                _ = window.next_ack(), if window.awaiting_acks() => {}
                _ = sleep_until(retry_at.unwrap_or(now).into()), if retry_at.is_some() => {
                    window.resend().await;
                }
                first = events.next(), if take => {
                    let Some(first) = first else {
                        input_done = true;
                        continue;
                    };
                    batch.push(first);
                    while batch.len() < window.room().min(BATCH) {
                        match events.try_next() {
                            Some(ev) => batch.push(ev),
                            None => break,
                        }
                    }
                    let received = ami_json::rfc3339(SystemTime::now());
                    metrics.events_in.fetch_add(batch.len() as u64, Relaxed);
                    for ev in batch.drain(..) {
                        seq += 1;
                        let body = payload::event(name, &self.session, seq, &ev, &received);
                        window.send(Pending {
                            subject: event_subjects.get(&shared.subjects, name, ev.name()),
                            msg_id: msg_id(name, &self.session, seq),
                            payload: Bytes::from(body),
                            is_event: true,
                        }).await;
                    }
                    // The AMI queue's drops (its policy under back-pressure).
                    let now_dropped = events.dropped();
                    metrics.events_dropped.fetch_add(now_dropped - dropped, Relaxed);
                    dropped = now_dropped;
                }
            }
        };
        shared.let_go(name);
        metrics.session_up.store(false, Relaxed);
        metrics
            .events_dropped
            .fetch_add(events.dropped() - dropped, Relaxed);
        match end {
            End::Drained => {}
            End::Fenced | End::Lost => {
                let n = window.abandon();
                log!(warn, name, n, reason = ?end, last_seq = seq, "stopped publishing: the lease is not ours any more");
            }
        }
        if !closing {
            client.close_within(Duration::from_secs(2)).await;
        }
        let _ = stop_renewing.send(end == End::Drained);
        self.finish(renewer, end).await;
    }

    /// Waits for the renewer; releases the lease it hands back.
    async fn finish(&self, renewer: tokio::task::JoinHandle<Option<Held>>, end: End) {
        let shared = self.shared;
        let name = &self.server.name;
        shared
            .metrics
            .node(self.index)
            .lease_held
            .store(false, Relaxed);
        if let Ok(Some(held)) = renewer.await {
            match shared.leases.release(held).await {
                Ok(()) => log!(info, name, 0, "lease released"),
                Err(e) => log!(warn, name, 0, error = %e, "lease not released; it will expire"),
            }
        } else if end == End::Drained {
            log!(
                warn,
                name,
                0,
                "lease lost while shutting down; it will expire"
            );
        }
    }

    /// A marker of `kind` for this tenure.
    fn marker(&self, kind: MarkerKind, previous: Option<&str>, last_seq: u64) -> Pending {
        let name = &self.server.name;
        let shared = self.shared;
        let body = payload::marker(
            kind,
            name,
            &shared.settings.id,
            &self.session,
            previous,
            last_seq,
        );
        let kind_name = match kind {
            MarkerKind::Acquired => "acquired",
            MarkerKind::Reconnected => "reconnected",
            MarkerKind::Released => "released",
        };
        Pending {
            subject: shared.subjects.marker(name).into(),
            msg_id: format!("{name}:{}:{kind_name}:{last_seq}", self.session),
            payload: Bytes::from(body),
            is_event: false,
        }
    }
}

/// Renews `held` four times per lease time until told to stop, moving the
/// fence with each success. Says on `lost` when someone else wrote the
/// lease. Returns the lease if it is still ours and `stop` asked to
/// release it (`true`).
async fn renew(
    shared: Arc<Shared>,
    name: String,
    mut held: Held,
    fence: Arc<Fence>,
    mut stop: oneshot::Receiver<bool>,
    lost: watch::Sender<bool>,
) -> Option<Held> {
    let every = Fence::renew_every(shared.leases.ttl());
    let mut next = Instant::now() + every;
    loop {
        tokio::select! {
            release = &mut stop => return release.unwrap_or(false).then_some(held),
            _ = sleep_until(next.into()) => {}
        }
        next += every;
        let attempt = tokio::time::timeout(every, shared.leases.renew(&mut held)).await;
        match attempt {
            Ok(Ok(sent)) => fence.renewed(sent),
            Ok(Err(RenewError::Lost)) => {
                log!(warn, name, 0, "lease taken by another gateway");
                let _ = lost.send(true);
                let _ = stop.await;
                return None;
            }
            Ok(Err(RenewError::Unreachable(e))) => {
                log!(warn, name, 0, error = %e, "lease not renewed; retrying")
            }
            Err(_) => log!(warn, name, 0, "lease renewal timed out; retrying"),
        }
    }
}
